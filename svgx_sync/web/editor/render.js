// The drawing's model elements as DOM nodes, with nothing active: no <script>, no
// <foreignObject>, no on* attribute, no javascript: URL, no animation that could set one.

export const SVG_NS = 'http://www.w3.org/2000/svg';
const XLINK_NS = 'http://www.w3.org/1999/xlink';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const USUAL = { xlink: XLINK_NS, xml: XML_NS };

const NEVER = new Set(['script', 'foreignobject', 'handler', 'listener', 'iframe', 'embed', 'object']);
const ANIMATIONS = new Set(['set', 'animate', 'animatetransform', 'animatemotion', 'animatecolor']);
const URL_ATTRS = new Set(['href', 'xlink:href', 'src', 'action', 'formaction', 'from', 'to', 'values', 'by']);
const ACTIVE_URL = /^(javascript|vbscript|data:text\/html|data:application)/i;

export const localName = (qname) => qname.slice(qname.indexOf(':') + 1);
const prefixOf = (qname) => (qname.includes(':') ? qname.slice(0, qname.indexOf(':')) : '');

/** Whether an attribute may be put into the page: no handler, no active URL. */
export function safeAttribute(name, value) {
  const local = localName(name).toLowerCase();
  if (local.startsWith('on')) return false;
  if (name === 'xmlns' || name.startsWith('xmlns:')) return false;
  if (URL_ATTRS.has(name.toLowerCase()) || local === 'href') {
    const squeezed = String(value).replace(/[\u0000-\u0020\u007f]+/g, '');
    if (ACTIVE_URL.test(squeezed)) return false;
  }
  return true;
}

/** The namespace of a model element, by the xmlns declarations in scope. */
export function namespaceOf(el) {
  const prefix = prefixOf(el.tag);
  const key = prefix ? `xmlns:${prefix}` : 'xmlns';
  for (let at = el; at; at = at.parent) {
    if (at.attrs && key in at.attrs) return at.attrs[key];
  }
  return prefix ? null : SVG_NS;
}

/** Whether a model element is drawn at all (SVG, and not active content). */
export function drawable(el) {
  if (!el.tag || el.tag === '#document') return false;
  if (namespaceOf(el) !== SVG_NS) return false;
  const local = localName(el.tag).toLowerCase();
  if (NEVER.has(local)) return false;
  if (ANIMATIONS.has(local)) {
    const target = (el.attrs.attributeName ?? '').toLowerCase();
    if (target.startsWith('on') || target.endsWith('href')) return false;
  }
  return true;
}

/** The DOM id a document id gets: the page's own ids start with `svgx-`. */
export function setDocumentId(node, id) {
  if (id === undefined) {
    node.removeAttribute('id');
    node.removeAttribute('data-svgx-id');
  } else if (id.startsWith('svgx-')) {
    node.removeAttribute('id');
    node.setAttribute('data-svgx-id', id);
  } else {
    node.setAttribute('id', id);
    node.removeAttribute('data-svgx-id');
  }
}

function setOne(node, name, value) {
  if (name === 'id') return;
  const prefix = prefixOf(name);
  try {
    if (!prefix) node.setAttribute(name, value);
    else if (USUAL[prefix]) node.setAttributeNS(USUAL[prefix], name, value);
    // other prefixes (inkscape:, sodipodi:, svgx:) mean nothing to the browser
  } catch {
    // a name the DOM refuses (not a valid XML name): not drawn
  }
}

function removeOne(node, name) {
  const prefix = prefixOf(name);
  if (!prefix) node.removeAttribute(name);
  else if (USUAL[prefix]) node.removeAttributeNS(USUAL[prefix], localName(name));
}

/**
 * Bring a DOM node's attributes to `attrs` (a model element's, maybe predicted),
 * changing only those that differ; `skip` names attributes the page keeps for itself.
 */
export function syncAttributes(node, attrs, previous, skip) {
  for (const name of Object.keys(previous ?? {})) {
    if (!(name in attrs) && !skip?.has(name) && name !== 'id') removeOne(node, name);
  }
  for (const [name, value] of Object.entries(attrs)) {
    if (skip?.has(name)) continue;
    if (previous && previous[name] === value) continue;
    if (!safeAttribute(name, value)) {
      if (previous && name in previous) removeOne(node, name);
      continue;
    }
    setOne(node, name, value);
  }
  setDocumentId(node, attrs.id);
}

/** The leading text of a DOM node (before its first child element) set to `text`. */
export function syncText(node, text) {
  const first = node.firstChild;
  if (first && first.nodeType === 3) {
    if (first.data !== text) first.data = text;
  } else if (text) {
    node.insertBefore(document.createTextNode(text), first);
  }
}
