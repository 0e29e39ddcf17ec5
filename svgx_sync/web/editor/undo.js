// Undo and redo of one's own edits. Each step is the operations sent and the operations
// that undo them, worked out before sending; undoing sends the inverses as new
// operations, so they merge with everyone else's edits like any other.

const LIMIT = 200;

export class History {
  constructor(edits) {
    this.edits = edits;
    this.done = [];
    this.undone = [];
    this.listeners = new Set();
  }

  /**
   * Send `ops` (`[{type, id, data}]`) as one step of the history; returns the
   * operations as sent.
   */
  apply(ops, label = '') {
    const forward = [];
    const inverse = [];
    const sent = [];
    for (const { type, id, data } of ops) {
      const back = this.edits.inverseOf(type, id, data);
      sent.push(this.edits.send(type, id, data));
      forward.push({ type, id, data });
      if (back) inverse.unshift(...back);
    }
    if (forward.length) {
      this.done.push({ label, forward, inverse });
      if (this.done.length > LIMIT) this.done.shift();
      this.undone = [];
      this.changed();
    }
    return sent;
  }

  undo() {
    const step = this.done.pop();
    if (!step) return false;
    for (const { type, id, data } of step.inverse) this.edits.send(type, id, data);
    this.undone.push(step);
    this.changed();
    return true;
  }

  redo() {
    const step = this.undone.pop();
    if (!step) return false;
    for (const { type, id, data } of step.forward) this.edits.send(type, id, data);
    this.done.push(step);
    this.changed();
    return true;
  }

  canUndo() { return this.done.length > 0; }
  canRedo() { return this.undone.length > 0; }

  onChange(fn) { this.listeners.add(fn); }
  changed() { for (const fn of this.listeners) fn(this); }
}
