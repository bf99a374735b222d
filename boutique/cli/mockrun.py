"""Run the Pulumi program under Pulumi's own mocks and record every resource it registers.

Used by `render` and by the tests. The mocks emulate the engine where the program relies on it:
outputs echo inputs, provider-secret outputs (RandomPassword.result) come back secret, and every
registration is recorded with its parent and dependencies.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from boutique.inputs.catalog import CATALOG_FILE, load_catalog
from boutique.inputs.stackconfig import read_stack_config
from boutique.program import PROJECT_DIR, offline, run, settings_from_config

PROJECT = "boutique"

# Outputs a provider marks secret in its schema; the engine returns them as secrets.
SECRET_OUTPUTS = {"random:index/randomPassword:RandomPassword": ("result", "bcryptHash")}
# How a secret travels in a Struct: pulumi.runtime.rpc's signature key and value (no public name).
_SECRET_SIG_KEY = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig


class _CliFormat(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


# What the program logs (pulumi.log.warn, ...) goes to stderr as the Pulumi CLI shows it: `warning: ...`.
ENGINE_LOG = logging.getLogger("boutique.engine")
_handler = logging.StreamHandler()
_handler.setFormatter(_CliFormat())
ENGINE_LOG.addHandler(_handler)


def fake_secret_value(name: str) -> str:
    """The deterministic 'generated' secret for a mocked resource (tests search files for it)."""
    return f"mock-secret-{name}-9f8e7d6c5b4a"


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    dependencies: list[str]
    inputs: dict[str, Any]
    # The provider reference (`urn::id`) a custom resource registers with; a component's map per package.
    provider: str = ""
    providers: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    # The CLI versions the program asked the engine for (pulumi.require_pulumi_version).
    required_pulumi: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources of type {type_} named {name}")
        return matches[0]

    def children_of(self, urn: str) -> list[Registration]:
        return [r for r in self.resources if r.parent == urn]


class _EngineMocks(pulumi.runtime.Mocks):
    """Reads and calls (the program makes none); registrations are `_RecordingMonitor`'s own."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        for key in SECRET_OUTPUTS.get(args.typ, ()):
            state[key] = rpc.wrap_rpc_secret(fake_secret_value(args.name))
        return (f"{args.name}-id" if args.custom else None), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that answers registrations as the engine would and records each one with its
    parent and dependencies (MockResourceArgs has neither)."""

    def __init__(self, registrations: list[Registration]) -> None:
        super().__init__(_EngineMocks())
        self.registrations = registrations
        self.lock = threading.Lock()  # registrations run concurrently, one per executor thread

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        _ensure_event_loop()  # deserialising a resource reference needs one on this thread
        # The outputs echo the inputs, as MockMonitor's do; it gets there by deserialising the inputs
        # and serialising them back, which cost as much as the rest of a mocked registration.
        # Copying the request's Struct is the same message (null fields included, which the SDK drops
        # when it reads outputs) at a fraction of the cost.
        response = resource_pb2.RegisterResourceResponse(
            urn=self.make_urn(request.parent, request.type, request.name),
            id=f"{request.name}-id" if request.custom else "",
            object=request.object,
        )
        for key in SECRET_OUTPUTS.get(request.type, ()):
            response.object[key] = {_SECRET_SIG_KEY: _SECRET_SIG, "value": fake_secret_value(request.name)}
        registration = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            dependencies=sorted(set(request.dependencies)),
            inputs=rpc.deserialize_properties(request.object),
            provider=request.provider,
            providers=dict(request.providers),
        )
        with self.lock:
            self.registrations.append(registration)
        return response


def run_program(
    program: Callable[[], None],
    stack: str,
    config: dict[str, str],
    secret_keys: Sequence[str] = (),
    run: Run | None = None,
    reach_cluster: bool = False,
) -> Run:
    """Run `program` as stack `stack` of project boutique under mocks; return what it registered.

    Pass `run` to see what was registered even when the program raises. Offline unless
    `reach_cluster`: the program then checks the kubeconfig and placeholders as `pulumi up` does.
    """
    run = run if run is not None else Run()
    runtime_settings.ROOT.set(None)  # a fresh root Stack for every run
    monitor = _RecordingMonitor(run.resources)
    mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, logger=ENGINE_LOG, monitor=monitor)
    set_all_config(config, list(secret_keys))
    # The mocks' engine lacks this call; as a CLI new enough, it records the range and says yes.
    engine = runtime_settings.get_engine()
    engine.RequirePulumiVersion = lambda request: run.required_pulumi.append(request.pulumi_version_range)

    async def body() -> None:
        program()
        # Awaited, not `_sync_await`ed: a nested `_sync_await` pumps the running loop and then refills
        # its ready queue with as many cancelled handles as it found there (thousands once every
        # resource is queued), once per output.
        root = runtime_settings.get_root_resource()
        for key, value in dict(root.outputs).items():
            output = pulumi.Output.from_input(value)
            run.outputs[key] = await output.future()
            if await output.is_secret():
                run.secret_outputs.add(key)

    cluster = contextlib.nullcontext() if reach_cluster else offline()
    with _young_collections_only(), _no_source_positions(), cluster:
        _sync_await(run_pulumi_func(body))
    run.resources.sort(key=lambda r: r.urn)
    return run


def run_stack(stack: str, catalog_path: Path = CATALOG_FILE) -> Run:
    """The program as `pulumi up -s <stack>` runs it, under mocks.

    Every input is validated first (an InputError naming file and key), so bad input registers
    nothing and a tool writes nothing.
    """
    catalog = load_catalog(catalog_path)
    config, secret_keys = read_stack_config(PROJECT_DIR, stack)
    settings_from_config(stack, config, catalog, secret_keys)
    return run_program(lambda: run(catalog_path), stack, config, secret_keys)


@contextmanager
def _no_source_positions() -> Iterator[None]:
    """No stack trace captured per registration while the program runs under mocks.

    The SDK walks and formats the Python stack on every registration so the engine can point a
    diagnostic at the source line; nothing offline reads it, and it cost 15 % of a 200-service run.
    Under `pulumi up` this function is not used: the engine gets its source positions as usual.
    """
    original = getattr(sdk_resource, "_get_stack_trace", None)
    if original is None:  # another SDK layout: leave it be
        yield
        return
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = original


@contextmanager
def _young_collections_only() -> Iterator[None]:
    """No full garbage collections while a program runs.

    Every resource's inputs, outputs and futures live until the program ends, so each full
    collection walks all of them again and finds nothing to free: with the default thresholds a
    500-service catalog spent a third of its run there, and run time grew faster than the catalog.
    Young collections still free the short-lived cycles.
    """
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)
