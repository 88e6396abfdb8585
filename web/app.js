// berth's topology page: the network as a graph (cytoscape), kept live from the daemon's
// events, and a trace form that draws a path and its verdict on it. Plain browser script:
// the page is served by `berth daemon --web` with the cookie that lets it call /api/*.
'use strict';

const STYLE = [
  { selector: 'node', style: { label: 'data(label)', 'text-wrap': 'wrap', 'font-size': 9, 'text-valign': 'bottom', 'text-margin-y': 4, 'min-zoomed-font-size': 5, 'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': 1 } },
  { selector: 'node.host', style: { shape: 'round-rectangle', width: 64, height: 30, 'background-color': '#1d2330' } },
  { selector: 'node.remote-host', style: { shape: 'round-rectangle', width: 54, height: 26, 'background-color': '#6e7781' } },
  { selector: 'node.network', style: { shape: 'hexagon', width: 38, height: 32, 'background-color': '#0969da' } },
  { selector: 'node.network.internal', style: { 'background-color': '#8250df' } },
  { selector: 'node.container', style: { shape: 'ellipse', width: 24, height: 24, 'background-color': '#2da44e' } },
  { selector: 'node.container.stopped', style: { 'background-color': '#afb8c1' } },
  { selector: 'node.remote', style: { 'background-color': '#bf8700' } },
  { selector: 'edge', style: { width: 1.5, 'line-color': '#afb8c1', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 7, 'text-wrap': 'wrap', color: '#57606a', 'min-zoomed-font-size': 6, 'text-background-color': '#fff', 'text-background-opacity': 0.85 } },
  { selector: 'edge.tunnel', style: { 'line-style': 'dashed', 'line-color': '#bf8700' } },
  { selector: 'node.on-path', style: { 'border-width': 4, 'border-color': '#1a7f37' } },
  { selector: 'edge.on-path', style: { 'line-color': '#1a7f37', width: 4 } },
  { selector: 'node.on-path.blocked', style: { 'border-color': '#cf222e' } },
  { selector: 'edge.on-path.blocked', style: { 'line-color': '#cf222e' } },
  { selector: 'node.stop-here', style: { 'border-width': 6, 'border-style': 'double' } },
];

const cy = cytoscape({
  container: document.getElementById('graph'),
  style: STYLE,
  // Many nodes: draw a texture while panning and zooming rather than every label.
  textureOnViewport: true,
  hideEdgesOnViewport: true,
  minZoom: 0.05,
  maxZoom: 3,
});
window.berthGraph = cy;

/** The graph's elements for a topology: hosts, networks, containers, remote containers, tunnels. */
function elementsOf(t) {
  const nodes = [{ id: 'host', classes: 'host', label: `${t.host.name}${t.host.address ? `\n${t.host.address}` : ''}` }];
  const edges = [];
  for (const n of t.networks) {
    nodes.push({ id: `net:${n.name}`, classes: `network${n.internal ? ' internal' : ''}`, label: `${n.name}\n${n.subnet} (${n.driver})` });
    edges.push({ id: `host>net:${n.name}`, source: 'host', target: `net:${n.name}`, label: n.gateway });
  }
  for (const c of t.containers) {
    const running = c.status === 'running';
    nodes.push({ id: `ctr:${c.name}`, classes: `container${running ? '' : ' stopped'}`, label: `${c.name}${c.ports.length ? `\n${c.ports.join(' ')}` : ''}${c.mode !== 'bridge' ? `\n(${c.mode})` : ''}` });
    if (!running) continue;
    if (c.mode === 'host') edges.push({ id: `host>ctr:${c.name}`, source: 'host', target: `ctr:${c.name}`, label: 'host network' });
    if (c.mode.startsWith('container:')) edges.push({ id: `share:${c.name}`, source: `ctr:${c.mode.slice('container:'.length)}`, target: `ctr:${c.name}`, label: 'shares its namespace' });
    for (const i of c.interfaces) {
      edges.push({ id: `net:${i.network}>ctr:${c.name}`, source: `net:${i.network}`, target: `ctr:${c.name}`, label: `${i.hostIfname ? `${i.hostIfname} - ` : ''}${i.ifname} ${i.address}\n${i.mac}` });
    }
  }
  for (const h of new Set(t.remote.map((r) => r.host))) nodes.push({ id: `rhost:${h}`, classes: 'remote-host', label: `host ${h}` });
  for (const tunnel of t.tunnels) {
    edges.push({ id: `tunnel:${tunnel.network}:${tunnel.to}`, source: `net:${tunnel.network}`, target: `rhost:${tunnel.to}`, label: `vxlan (${tunnel.network})`, classes: 'tunnel' });
  }
  for (const r of t.remote) {
    nodes.push({ id: `remote:${r.host}:${r.name}`, classes: 'container remote', label: `${r.name}\n${r.address}` });
    edges.push({ id: `rhost:${r.host}>remote:${r.name}:${r.network}`, source: `rhost:${r.host}`, target: `remote:${r.host}:${r.name}`, label: `${r.network}: ${r.address}\n${r.mac}` });
  }
  const existing = new Set(nodes.map((n) => n.id));
  return [
    ...nodes.map(({ id, classes, label }) => ({ group: 'nodes', data: { id, label }, classes })),
    // An edge to a node that is not drawn (a network of another runtime) is left out.
    ...edges.filter((e) => existing.has(e.source) && existing.has(e.target)).map(({ id, source, target, label, classes }) => ({ group: 'edges', data: { id, source, target, label }, classes: classes ?? '' })),
  ];
}

/**
 * Applies a topology: adds, removes and updates elements. The whole graph is laid out at
 * the first picture and when much changed; a few new nodes are placed beside what they
 * hang from, so an update costs what changed, not the size of the graph.
 */
function render(t) {
  const wanted = elementsOf(t);
  const ids = new Set(wanted.map((e) => e.data.id));
  const hadNodes = cy.nodes().nonempty();
  const added = [];
  cy.batch(() => {
    cy.elements().forEach((el) => {
      if (!ids.has(el.id())) el.remove();
    });
    for (const e of wanted) {
      const el = cy.getElementById(e.data.id);
      if (el.empty()) {
        const fresh = cy.add(e);
        if (e.group === 'nodes') added.push(fresh);
      } else {
        el.data(e.data);
        el.classes(e.classes);
      }
    }
  });
  if (!hadNodes || added.length > FEW) {
    cy.layout({ name: 'breadthfirst', directed: true, roots: '#host', spacingFactor: 1.4, padding: 30, animate: false }).run();
    // A small network is not blown up to fill the screen.
    if (cy.zoom() > 1.3) {
      cy.zoom(1.3);
      cy.center();
    }
  } else {
    for (const node of added) placeBeside(node);
  }
  renderLegend(t);
  const running = t.containers.filter((c) => c.status === 'running').length;
  document.getElementById('summary').textContent = `${t.host.name}: ${t.networks.length} networks, ${running} of ${t.containers.length} containers running${t.tunnels.length ? `, ${t.tunnels.length} tunnels` : ''}`;
  window.berthTopology = t;
}

/** How many new nodes are placed by hand rather than by laying the whole graph out again. */
const FEW = 20;

/** A new node goes below the node it hangs from (its network, or the host), beside that one's other children. */
function placeBeside(node) {
  const parent = node.incomers('node').first();
  const anchor = parent.nonempty() ? parent.position() : cy.getElementById('host').position();
  const siblings = parent.nonempty() ? parent.outgoers('node').length : 1;
  node.position({ x: anchor.x + 40 * (siblings % 10) - 180, y: anchor.y + 120 + 30 * Math.floor(siblings / 10) });
}

/** The same as a list: what the picture shows, for reading and for screen readers. */
function renderLegend(t) {
  const list = document.getElementById('legend');
  list.replaceChildren(
    ...t.networks.map((n) => item(`network ${n.name}`, `${n.subnet} ${n.driver}${n.internal ? ' internal' : ''}`)),
    ...t.containers.map((c) => item(`container ${c.name}`, `${c.status}${c.interfaces.map((i) => ` ${i.network}:${i.address}`).join('')}${c.ports.length ? ` ports ${c.ports.join(' ')}` : ''}`)),
    ...t.remote.map((r) => item(`container ${r.name}`, `on host ${r.host}, ${r.network}:${r.address}`)),
  );
}

function item(title, detail) {
  const li = document.createElement('li');
  li.dataset.name = title;
  const b = document.createElement('b');
  b.textContent = title;
  li.append(b, ` ${detail}`);
  return li;
}

async function refresh() {
  const res = await fetch('/api/topology');
  if (!res.ok) throw new Error(`topology: ${res.status}`);
  render(await res.json());
}

let pending;
function refreshSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => refresh().catch(showError), 30);
}

function listen() {
  const events = new EventSource('/api/events');
  const live = document.getElementById('live');
  events.onopen = () => live.classList.add('on');
  events.onerror = () => live.classList.remove('on');
  events.addEventListener('changed', refreshSoon);
}

// ---- trace -------------------------------------------------------------------------

function nodeOf(end) {
  if (end === 'host' || end.startsWith('host:')) return 'host';
  if (end.startsWith('outside:')) return undefined;
  return `ctr:${end.replace(/[:/].*$/, '')}`;
}

/** The nodes a trace went through, in order: source, hops that name a container, network or the host, destination. */
function pathOf(src, dst, answer) {
  const nodes = [nodeOf(src)];
  for (const hop of answer.hops) {
    if (hop.network) nodes.push(`net:${hop.network}`);
    // The source's own hop names it again: the path does not go back to it.
    if (hop.container && `ctr:${hop.container}` !== nodes[0]) nodes.push(`ctr:${hop.container}`);
    if (/^(filter|nat|raw) |^host$/.test(hop.at)) nodes.push('host');
  }
  if (answer.verdict === 'delivered') nodes.push(nodeOf(dst));
  return nodes.filter((id, i) => id !== undefined && id !== nodes[i - 1] && !cy.getElementById(id).empty());
}

function showTrace(src, dst, answer) {
  cy.elements().removeClass('on-path blocked stop-here');
  const path = pathOf(src, dst, answer);
  const blocked = answer.verdict !== 'delivered';
  path.forEach((id, i) => {
    const node = cy.getElementById(id);
    node.addClass(`on-path${blocked ? ' blocked' : ''}`);
    if (i > 0) cy.getElementById(path[i - 1]).edgesWith(node).addClass(`on-path${blocked ? ' blocked' : ''}`);
  });
  if (blocked && path.length > 0) cy.getElementById(path[path.length - 1]).addClass('stop-here');
  const verdict = document.getElementById('verdict');
  verdict.dataset.verdict = answer.verdict;
  verdict.textContent = `verdict: ${answer.verdict} (${answer.method})`;
  document.getElementById('hops').replaceChildren(
    ...answer.hops.map((hop) => {
      const li = document.createElement('li');
      li.textContent = `${hop.at}: ${hop.what}`;
      if (hop.rule) {
        const rule = document.createElement('span');
        rule.className = 'rule';
        rule.textContent = `rule #${hop.rule.handle} (${hop.rule.chain}): ${hop.rule.text} — ${hop.rule.why}`;
        li.append(rule);
      }
      return li;
    }),
    ...answer.notes.map((note) => Object.assign(document.createElement('li'), { textContent: `note: ${note}` })),
  );
}

document.getElementById('trace').addEventListener('submit', async (event) => {
  event.preventDefault();
  const src = document.getElementById('trace-src').value.trim();
  const dst = document.getElementById('trace-dst').value.trim();
  const query = new URLSearchParams({ src, dst, ...(document.getElementById('trace-probe').checked ? { probe: '1' } : {}) });
  const verdict = document.getElementById('verdict');
  verdict.dataset.verdict = '';
  verdict.textContent = 'tracing…';
  const res = await fetch(`/api/trace?${query}`);
  const body = await res.json();
  if (!res.ok) {
    verdict.textContent = `error: ${body.message}${body.hint ? ` (${body.hint})` : ''}`;
    return;
  }
  showTrace(src, dst, body);
});

function showError(err) {
  document.getElementById('summary').textContent = `error: ${err.message}`;
}

// Events drive updates; a slow refresh catches what they do not carry (other hosts' containers).
listen();
refresh().catch(showError);
setInterval(() => refresh().catch(showError), 5000);
