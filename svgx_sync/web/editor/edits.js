// One's own edits: sent as operations, drawn at once (before the daemon confirms them),
// and forgotten when the daemon's echo, ack or refusal comes.

import { cloneElement, previewOperation, serializeElement } from '/svgx-client.js';

/** The address of a model element: its id, or its `/i/j` position. */
export function addressOf(el) {
  if (el.attrs.id !== undefined) return el.attrs.id;
  const parts = [];
  for (let at = el; at.parent && at.parent.tag !== '#document'; at = at.parent) {
    parts.unshift(at.parent.children.indexOf(at));
  }
  return `/${parts.join('/')}`;
}

function parentData(el, root) {
  const at = el.parent.children.indexOf(el);
  const data = at >= 0 ? { index: at } : {};
  if (el.parent !== root) data.parent = addressOf(el.parent);
  return data;
}

export class Edits {
  constructor(client, canvas) {
    this.client = client;
    this.canvas = canvas;
    this.pendingOps = new Map(); // op_id -> operation, in the order sent
    this.ackSeq = new Map(); // op_id -> seq of its applied ack, until the model has it
    this.listeners = new Set();
    for (const op of client.pending()) this.pendingOps.set(op.op_id, op);
  }

  /** Take in operations the client holds unacknowledged (its outbox, once the user is known). */
  adopt(ops) {
    for (const op of ops) {
      if (this.pendingOps.has(op.op_id)) continue;
      this.pendingOps.set(op.op_id, op);
      this.canvas.reconcile(op.element_id);
    }
  }

  /** One's unconfirmed operations on element `id`, in order. */
  pendingFor(id) {
    const out = [];
    for (const op of this.pendingOps.values()) if (op.element_id === id) out.push(op);
    return out;
  }

  pendingAll() {
    return [...this.pendingOps.values()];
  }

  /** Send one operation; it shows at once. Returns the operation as sent. */
  send(type, elementId, data) {
    const opId = this.client.operation(type, elementId, data, { file: this.canvas.file ?? undefined });
    const op = this.client.outbox.get(opId) ?? {
      operation_type: type, element_id: elementId, data, op_id: opId,
    };
    this.pendingOps.set(opId, op);
    this.canvas.reconcile(elementId);
    for (const fn of this.listeners) fn(op);
    return op;
  }

  onSend(fn) {
    this.listeners.add(fn);
  }

  /**
   * The operations that undo `op` (type, element_id, data), judged against what is shown
   * now; null when it cannot be undone.
   */
  inverseOf(type, id, data) {
    if (type === 'create') return [{ type: 'delete', id, data: {} }];
    const el = this.canvas.current(id);
    if (!el) return null;
    const before = this.canvas.predicted(el);
    if (type === 'delete') {
      const copy = cloneElement(el);
      copy.attrs = { ...before.attrs };
      copy.text = before.text;
      return [{ type: 'create', id, data: { markup: serializeElement(copy), ...parentData(el, this.canvas.rootModel) } }];
    }
    if (type === 'move' && ('index' in data || 'parent' in data)) {
      return [{ type: 'move', id, data: parentData(el, this.canvas.rootModel) }];
    }
    if (type === 'move' && !data.position) {
      return [{ type: 'move', id, data: { dx: -(data.dx ?? 0), dy: -(data.dy ?? 0) } }];
    }
    const after = previewOperation(before, { operation_type: type, element_id: id, data });
    if (!after) return null;
    const attributes = {};
    for (const name of new Set([...Object.keys(before.attrs), ...Object.keys(after.attrs)])) {
      if (before.attrs[name] !== after.attrs[name]) attributes[name] = before.attrs[name] ?? null;
    }
    const back = { attributes };
    if (after.text !== before.text) back.text = before.text;
    return [{ type: 'update', id, data: back }];
  }

  /** Called with each batch of `operations` (already in the model). */
  confirmed(ops) {
    for (const op of ops) {
      if (op.op_id !== undefined && this.pendingOps.has(op.op_id)) this.forget(op.op_id);
    }
    this.dropSeen();
    return this.canvas.applyOperations(ops);
  }

  /** An ack: applied ones wait for the model to have their seq; the rest are forgotten. */
  acked(ack) {
    const op = this.pendingOps.get(ack.op_id);
    if (!op) return;
    if (ack.status === 'applied' && typeof ack.seq === 'number') {
      this.ackSeq.set(ack.op_id, ack.seq);
      this.dropSeen();
    } else {
      this.forget(ack.op_id);
      this.canvas.reconcile(op.element_id);
    }
  }

  /** An error naming one of ours: refused, it is no longer shown (retryable ones stay). */
  refused(error, retryable) {
    const op = this.pendingOps.get(error.op_id);
    if (!op || retryable) return op;
    this.forget(error.op_id);
    this.canvas.reconcile(op.element_id);
    return op;
  }

  /** After a welcome: what the client no longer holds was settled meanwhile. */
  welcomed() {
    for (const opId of [...this.pendingOps.keys()]) {
      if (!this.client.outbox.has(opId)) this.forget(opId);
    }
  }

  dropSeen() {
    const seq = this.client.lastSeq ?? 0;
    for (const [opId, at] of [...this.ackSeq]) {
      if (at <= seq) {
        const op = this.pendingOps.get(opId);
        this.forget(opId);
        if (op) this.canvas.reconcile(op.element_id);
      }
    }
  }

  forget(opId) {
    this.pendingOps.delete(opId);
    this.ackSeq.delete(opId);
  }
}
