"""The service call graph, drawn from the catalog: `python -m boutique graph [--format mermaid|dot]`.

Nodes are the catalog's services and stores (optional services marked as such); each edge is one
`calls` entry, labelled with the protocol and port the caller uses. Dashed edges carry spans: from
each service whose code traces (`tracing: true`) to the trace collector, and from there to Jaeger
(with the mesh, every proxy sends spans too; the graph shows what the catalog says). Nothing here
is written by hand, so the docs' diagram is whatever this prints: `--write docs/catalog.md` puts it
there, and a test compares them. Only the catalog is read (no pulumi import), so drawing stays instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from boutique.inputs.catalog import Catalog
from boutique.inputs.errors import InputError
from boutique.plans.topology import TRACE_COLLECTOR, TRACE_STORE

FORMATS = ("mermaid", "dot")


@dataclass(frozen=True)
class Node:
    name: str
    store: bool
    optional: bool

    @property
    def label(self) -> str:
        return f"{self.name} (optional)" if self.optional else self.name


@dataclass(frozen=True)
class Edge:
    caller: str
    callee: str
    label: str  # e.g. `grpc :3550`


def nodes(catalog: Catalog) -> list[Node]:
    found = [Node(name, store=False, optional=s.optional) for name, s in catalog.services.items()]
    return found + [Node(name, store=True, optional=False) for name in catalog.stores]


def _protocol(catalog: Catalog, name: str) -> str:
    if name in catalog.stores:
        return catalog.stores[name].engine
    ports = catalog.services[name].ports
    return ports.protocol if ports else "tcp"


def edges(catalog: Catalog) -> list[Edge]:
    """Every caller → callee pair, in catalog order of the caller, then by callee."""
    order = {node.name: index for index, node in enumerate(nodes(catalog))}
    return [
        Edge(caller, callee, f"{_protocol(catalog, callee)} :{catalog.port_of(callee)}")
        for caller, callee in sorted(catalog.edges(), key=lambda e: (order[e[0]], order[e[1]]))
    ]


def trace_edges(catalog: Catalog) -> list[Edge]:
    """Spans: each tracing service to the collector, the collector to Jaeger (none if nothing traces)."""
    senders = [name for name, service in catalog.services.items() if service.tracing]
    if not senders:
        return []
    spans = [Edge(name, TRACE_COLLECTOR, "spans") for name in senders]
    return [*spans, Edge(TRACE_COLLECTOR, TRACE_STORE, "kept traces")]


def _mermaid_id(name: str) -> str:
    return name.replace("-", "_")  # a hyphen would read as part of an arrow


def mermaid(catalog: Catalog) -> str:
    lines = ["flowchart LR"]
    for node in nodes(catalog):
        shape = '[("{}")]' if node.store else '["{}"]'
        lines.append(f"  {_mermaid_id(node.name)}{shape.format(node.label)}")
    traces = trace_edges(catalog)
    if traces:
        lines.append(f'  {_mermaid_id(TRACE_COLLECTOR)}[/"{TRACE_COLLECTOR} (trace collector)"/]')
        lines.append(f'  {_mermaid_id(TRACE_STORE)}[("{TRACE_STORE} (traces)")]')
    for edge in edges(catalog):
        lines.append(f"  {_mermaid_id(edge.caller)} -->|{edge.label}| {_mermaid_id(edge.callee)}")
    for edge in traces:
        lines.append(f"  {_mermaid_id(edge.caller)} -.->|{edge.label}| {_mermaid_id(edge.callee)}")
    optional = [_mermaid_id(n.name) for n in nodes(catalog) if n.optional]
    if optional:
        lines.append("  classDef optional stroke-dasharray: 5 5")
        lines.append(f"  class {','.join(optional)} optional")
    return "\n".join(lines) + "\n"


def dot(catalog: Catalog) -> str:
    lines = [f'digraph "{catalog.part_of}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for node in nodes(catalog):
        attributes = []
        if node.store:
            attributes.append("shape=cylinder")
        if node.optional:
            attributes.append("style=dashed")
        attributes.append(f'label="{node.label}"')
        lines.append(f'  "{node.name}" [{", ".join(attributes)}];')
    traces = trace_edges(catalog)
    if traces:
        lines.append(f'  "{TRACE_COLLECTOR}" [shape=parallelogram, label="{TRACE_COLLECTOR} (trace collector)"];')
        lines.append(f'  "{TRACE_STORE}" [shape=cylinder, label="{TRACE_STORE} (traces)"];')
    for edge in edges(catalog):
        lines.append(f'  "{edge.caller}" -> "{edge.callee}" [label="{edge.label}"];')
    for edge in traces:
        lines.append(f'  "{edge.caller}" -> "{edge.callee}" [style=dashed, label="{edge.label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(catalog: Catalog, format_: str = "mermaid") -> str:
    return {"mermaid": mermaid, "dot": dot}[format_](catalog)


# Where the diagram lives in a Markdown file: the first ```mermaid block of the section.
SECTION_HEADING = "## Service graph"
_BLOCK = re.compile(r"(```mermaid\n)(.*?)(^```)", re.DOTALL | re.MULTILINE)


def _section_span(text: str) -> tuple[int, int] | None:
    """Where the 'Service graph' section's body starts and ends (the next heading of its level)."""
    heading = re.search(rf"^{re.escape(SECTION_HEADING)}\n", text, re.MULTILINE)
    if heading is None:
        return None
    following = re.compile(r"^## ", re.MULTILINE).search(text, heading.end())
    return heading.end(), following.start() if following else len(text)


def diagram_in(text: str) -> str | None:
    """The diagram a Markdown file holds in its 'Service graph' section, or None."""
    span = _section_span(text)
    block = _BLOCK.search(text, *span) if span else None
    return block.group(2) if block else None


def write_into(path: Path, catalog: Catalog) -> bool:
    """Replace the diagram in `path`'s 'Service graph' section with the catalog's; True if it changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    span = _section_span(text)
    block = _BLOCK.search(text, *span) if span else None
    if block is None:
        raise InputError(f"{path.name}: no '{SECTION_HEADING}' section with a ```mermaid block to replace")
    new = text[: block.start(2)] + mermaid(catalog) + text[block.end(2) :]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
