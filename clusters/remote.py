"""An existing Dask scheduler, by address (``tcp://host:8786``; ``tls://`` with certificates)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from distributed import Client, Security
from distributed.comm import parse_address
from distributed.comm.addressing import parse_host_port
from pydantic import BaseModel, ConfigDict, Field, model_validator

from clusters.kinds import CLUSTER_KINDS, ClusterKind, dashed
from elements.core import config

ADDRESS_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://", "ws://", "wss://")


def security(tls: dict[str, str] | None) -> Security | None:
    """``distributed.Security`` from ``{ca-file, cert, key}`` paths; None means distributed's own config."""
    if not tls:
        return None
    return Security(
        tls_ca_file=tls.get("ca-file"),
        tls_client_cert=tls.get("cert"),
        tls_client_key=tls.get("key"),
        require_encryption=True,
    )


def remote_client(address: str, *, timeout: float | None = None, tls: dict[str, str] | None = None) -> Client:
    """A client on the scheduler at ``address``.

    Examples
    --------
    >>> client = remote_client("tcp://127.0.0.1:8786")  # doctest: +SKIP
    >>> client = remote_client("tls://lab:8786", tls={"ca-file": "ca.pem", "cert": "me.pem", "key": "me.key"})  # doctest: +SKIP
    """
    timeout = config.get("cluster.connect-timeout", timeout)
    kwargs: dict[str, Any] = {"timeout": timeout}
    if (sec := security(tls)) is not None:
        kwargs["security"] = sec
    args = _connection_args(address, sec or Security())  # Security(): what Client reads from dask config
    try:
        _identity(address, timeout, args)
        return Client(address, **kwargs)
    except (OSError, TimeoutError) as exc:
        if isinstance(_ssl_cause(exc), ssl.SSLError):
            raise ConnectionError(
                f"the scheduler at {address} answered but the TLS handshake failed ({_ssl_cause(exc)}): it does "
                "not accept this certificate, or the ca-file does not sign its certificate. Check the profile's "
                "tls: {ca-file, cert, key}."
            ) from exc
        host_port = address.split("://", 1)[-1]
        raise ConnectionError(
            f"no Dask scheduler answered at {address} within {timeout:g} s ({type(exc).__name__}: {exc}). "
            f"Start one with `dask scheduler --host {host_port.rsplit(':', 1)[0]} --port {host_port.rsplit(':', 1)[-1]}` "
            f"and workers with `dask worker {address}`, or check the address and that the port is reachable."
        ) from exc


def _connection_args(address: str, sec: Security) -> dict[str, Any]:
    """The TLS context and options to connect with; a ``tls://`` address without usable certificates
    is a ValueError naming it (distributed raises a TypeError without the address)."""
    try:
        args = sec.get_connection_args("client")
    except (OSError, ValueError) as exc:  # a certificate file that is missing or not PEM
        given = f"ca-file {sec.tls_ca_file}, cert {sec.tls_client_cert}, key {sec.tls_client_key}"
        raise ValueError(f"cannot load the TLS certificates for {address} ({given}): {exc}. Check the profile's "
                         "tls: {ca-file, cert, key}; relative paths start at the current folder") from exc
    if address.startswith("tls://") and args.get("ssl_context") is None:
        raise ValueError(
            f"{address} is a TLS address but no certificates were given. Use a profile "
            f"{{type: address, address: '{address}', tls: {{ca-file: ca.pem, cert: me.pem, key: me.key}}}} "
            "(--profiles FILE --cluster NAME), or set distributed.comm.tls.ca-file and "
            "distributed.comm.tls.client.{cert,key} in dask config."
        )
    return args


def _ssl_cause(exc: BaseException | None) -> BaseException | None:
    """The ``ssl.SSLError`` behind a failed connection, if one is."""
    while exc is not None and not isinstance(exc, ssl.SSLError):
        exc = exc.__cause__ or exc.__context__
    return exc


def _identity(address: str, timeout: float, args: dict[str, Any]) -> None:
    """Ask the scheduler who it is, within ``timeout``: ``Client`` itself waits for ever on a port that
    accepts connections but never answers (measured: > 120 s with ``timeout=3``)."""
    from distributed.core import rpc

    async def ask() -> None:
        async with rpc(address, connection_args=args) as scheduler:
            await scheduler.identity()

    # A thread of its own: the caller may already be inside an event loop (a notebook).
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(ask(), timeout)).result()


def reachable(address: str, *, timeout: float = 2.0) -> bool:
    """Whether something listens at a scheduler address (a TCP connect, no Dask handshake)."""
    try:
        scheme, loc = parse_address(address)
        if scheme == "inproc":
            return False
        host, port = parse_host_port(loc)
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def cancel_keys(dask_scheduler: Any, run_id: str) -> list[str]:
    """On the scheduler: cancel every task of a run (keys hold the run id), even fire-and-forget ones.

    Only keys some client wants (the graph's last node, each generation's chunks) are canceled by
    name; the upstream nodes they depend on are released with them.
    """
    keys = [k for k, ts in dask_scheduler.tasks.items() if isinstance(k, str) and run_id in k and ts.who_wants]
    if keys:
        dask_scheduler.stimulus_cancel(
            keys, client="fire-and-forget", force=True, reason="sweepfit cancel", msg=f"run {run_id} was canceled"
        )
    return keys


class TLS(BaseModel):
    """Certificate files for a ``tls://`` scheduler."""

    model_config = ConfigDict(extra="forbid", alias_generator=dashed, populate_by_name=True)
    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> TLS:
        # distributed quietly makes no TLS context from a ca-file without a cert, or a cert without one.
        if not (self.ca_file and self.cert):
            raise ValueError("tls needs ca-file and cert (and key, unless the cert file holds it), got "
                             f"{self.model_dump(by_alias=True, exclude_none=True)}")
        return self


@CLUSTER_KINDS.register("address")
class Address(ClusterKind):
    type: Literal["address"] = "address"
    address: str = Field(pattern="^(" + "|".join(ADDRESS_SCHEMES) + ")", description="tcp://host:8786")
    timeout: float | None = Field(None, gt=0)
    tls: TLS | None = None
    outlives_process: ClassVar[bool] = True

    def client(self) -> Client:
        tls = self.tls.model_dump(by_alias=True, exclude_none=True) if self.tls else None
        return remote_client(self.address, timeout=self.timeout, tls=tls)
