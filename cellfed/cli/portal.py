"""`cellfed portal`: the researcher-facing portal and its request broker."""

from __future__ import annotations

import click

from cellfed.cli._shared import config_with


@click.group()
def portal() -> None:
    """The researcher-facing portal."""


@portal.command("serve")
@click.option("--port", type=int, default=5000, show_default=True)
def portal_serve(port: int) -> None:
    """Serve the portal and run the request broker (development server; in production run
    gunicorn, and `cellfed portal deliver` once beside it)."""
    import threading

    from portal.access import start_delivery
    from portal.app import create_app

    app = create_app(config_with())
    start_delivery(app, threading.Event())
    app.run(host="127.0.0.1", port=port)


@portal.command("deliver")
def portal_deliver() -> None:
    """Run the request broker's outbox (parts and actions to nodes, e-mail) until stopped."""
    import threading

    from portal.access.context import access_context

    context = access_context(config_with())
    try:
        context.outbox.run_forever(threading.Event(), context.config["DELIVERY_INTERVAL"])
    except KeyboardInterrupt:
        pass
