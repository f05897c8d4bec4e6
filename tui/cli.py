"""The `cardsonline` command: the TUI by default, plus demo, db and batch subcommands."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from store.db import DATABASE_URL_ENV
from tui.i18n import N_, _, ngettext

# Help texts are marked with N_() (click reads them at import, before a language is known) and translated when
# click formats a help page (TranslatedCommand/TranslatedGroup below); messages, prompts and errors are
# translated when shown. A help text not marked (not in the catalog) shows in English.

# click's own words on a help page, translated by the formatter below (click itself only knows English).
_CLICK_WORDS = (N_("Usage:"), N_("Options"), N_("Commands"), N_("Show this message and exit."))


class _TranslatedFormatter(click.HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _("Usage:") + " " if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        super().write_heading(_(heading))


class _TranslatedContext(click.Context):
    formatter_class = _TranslatedFormatter


class _TranslatedHelp:
    """A command whose help page is in the language in force: its help, its options' help and (for a group)
    its subcommands' short help go through _() while click formats the page, then are put back."""

    context_class = _TranslatedContext

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = list(getattr(self, "commands", {}).values())
        saved = [(thing, thing.help, getattr(thing, "short_help", None))
                 for thing in [self, *commands, *self.get_params(ctx)] if getattr(thing, "help", None)]
        try:
            for thing, help_text, short_help in saved:
                thing.help = _(help_text)
                if short_help:
                    thing.short_help = _(short_help)
            super().format_help(ctx, formatter)  # type: ignore[misc]
        finally:
            for thing, help_text, short_help in saved:
                thing.help = help_text
                if short_help:
                    thing.short_help = short_help


class TranslatedCommand(_TranslatedHelp, click.Command):
    pass


class TranslatedGroup(_TranslatedHelp, click.Group):
    command_class = TranslatedCommand
    group_class = type  # subgroups are TranslatedGroups too

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            # `--help` is eager: it prints before main() runs, so the language is chosen here, first, as main()
            # chooses it (--lang, else $LANG/LC_*), whatever the order of --lang and --help.
            from store.i18n import set_language, startup_language

            set_language(startup_language(_language_argument(args)))
        return super().parse_args(ctx, args)


def _language_argument(args: list[str]) -> str | None:
    """The value of `--lang` among the command line's arguments, if any."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


DEMO_LOGINS = (
    ("fleetadmin", "Fleet#2026", N_("fleet administrator, every right")),
    ("depot", "Depot#2026", N_("depot user, a few rights")),
)

database_url_option = click.option(
    "--database-url",
    envvar=DATABASE_URL_ENV,
    default=None,
    help=N_("SQLAlchemy URL of the database (default: $CARDSONLINE_DATABASE_URL, else SQLite in the user data dir)."),
)


def _database(url: str | None):
    from store.db import Database

    return Database(url)


def _sign_demo_invoices(db) -> None:
    """The demo's invoices get real signed PDFs (demo keys in the data dir when there are none; passphrase
    $CARDSONLINE_SIGNING_PASSPHRASE, else "demo"). A problem with the keys is reported, not fatal."""
    from exports.invoice_signing import SigningKeyError
    from exports.invoicing import render_missing

    def progress(done: int, total: int) -> None:
        click.echo("\r" + _("Signing the demo invoices: {done}/{total}").format(done=done, total=total), nl=False)
        if done >= total:
            click.echo()

    try:
        click.echo(str(render_missing(db, progress=progress)))
    except SigningKeyError as exc:
        click.echo(_("The demo invoices were not signed: {error}").format(error=exc), err=True)


def _print_demo_logins() -> None:
    click.echo(_("Demo logins:"))
    for username, password, what in DEMO_LOGINS:
        click.echo(f"  {username:<11} {password:<11} ({_(what)})")


@click.group(cls=TranslatedGroup, invoke_without_command=True,
             help=N_("Cards Online in the terminal. Without a subcommand: open the portal."))
@database_url_option
@click.option("--idle-minutes", type=click.FloatRange(min=0), default=None, envvar="CARDSONLINE_IDLE_MINUTES",
              help=N_("Log out after this many idle minutes (default 15; 0: never)."))
@click.option("--lock-after", type=click.IntRange(min=1), default=None, envvar="CARDSONLINE_LOCK_AFTER",
              help=N_("Wrong passwords in a row that lock an account (default 5)."))
@click.option("--lock-minutes", type=click.IntRange(min=1), default=None, envvar="CARDSONLINE_LOCK_MINUTES",
              help=N_("How long a locked account stays locked (default 15 minutes)."))
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, envvar="CARDSONLINE_CONFIG",
              help=N_("The config file (default: $CARDSONLINE_CONFIG, else config.toml in the user config dir; "
                   "see `cardsonline config path`)."))
@click.option("--kiosk/--no-kiosk", default=None,
              help=N_("Kiosk mode for a depot terminal: no way out of the app, logout after 2 idle minutes, "
                   "high-contrast theme (default: [kiosk] enabled in the config file)."))
@click.option("--theme", type=click.Choice(["dark", "light", "high-contrast"]), default=None,
              help=N_("Colour theme (default: the config file's, else dark; high-contrast in kiosk mode)."))
@click.option("--lang", "language", type=click.Choice(["en", "nl", "fr"]), default=None,
              help=N_("Language before login (default: the config file's, else $LANG, else en); once logged in, "
                   "the user's own language (My account -> Language)."))
@click.pass_context
def main(ctx: click.Context, database_url: str | None, idle_minutes: float | None, lock_after: int | None,
         lock_minutes: int | None, config_file: str | None, kiosk: bool | None, theme: str | None,
         language: str | None) -> None:
    from store.i18n import set_language, startup_language

    ctx.ensure_object(dict)
    ctx.obj["database_url"] = database_url
    ctx.obj["config_file"] = config_file
    set_language(startup_language(language))  # the subcommands' messages; the portal adds the config file's
    if ctx.invoked_subcommand is not None:
        return
    from tui.config import ConfigError, apply_download_folder, load_config

    try:
        config = load_config(config_file)
    except ConfigError as exc:
        click.echo(_("Error in the config file: {error}").format(error=exc), err=True)
        ctx.exit(2)
    kiosk = config.kiosk.enabled if kiosk is None else kiosk
    if kiosk and idle_minutes == 0:
        raise click.BadParameter(_("a kiosk always logs out: use more than 0 minutes."), param_hint="--idle-minutes")
    apply_download_folder(config)
    db = _database(database_url)
    from store.db import sqlite_path

    path = sqlite_path(db.url)
    if path is not None and not path.exists():
        # First run on the embedded database: create it with the demo so the portal can be tried at once.
        from store.demo import build_demo

        click.echo(_("New database at {path}: adding demo data …").format(path=path))
        db.ensure_schema()
        click.echo(build_demo(db))
        _sign_demo_invoices(db)
        _print_demo_logins()
    # Otherwise the app brings the schema up to date in the background while the login screen shows.
    from tui.app import CardsOnlineApp

    kwargs = {}
    kwargs["idle_timeout"] = (idle_minutes if idle_minutes is not None else config.effective_idle_minutes(kiosk)) * 60
    kwargs.update(kiosk=kiosk, kiosk_screens=config.kiosk.screens, keymap=config.keys,
                  language=startup_language(language, config.language),
                  theme_name=theme or config.effective_theme(kiosk))
    import os

    from tui.config import config_path

    # A theme chosen in the portal is saved in the config file, except in an SSH session: those share the
    # server account's file, and one person's choice would become everybody's.
    kwargs["config_file"] = None if os.environ.get("CARDSONLINE_SSH_USER") else config_path(config_file)
    if lock_after is not None or lock_minutes is not None:
        from store.services.auth import LoginPolicy

        default = LoginPolicy()
        kwargs["login_policy"] = LoginPolicy(max_failures=lock_after or default.max_failures,
                                             lock_minutes=lock_minutes or default.lock_minutes)
    CardsOnlineApp(db, **kwargs).run()


@main.command(help=N_("Build the deterministic demo data set."))
@database_url_option
@click.option("--cards", type=click.IntRange(1), default=150, show_default=True, help=N_("How many fleet cards."))
@click.option("--seed", type=int, default=2026, show_default=True, help=N_("Random seed: same seed, same data."))
@click.option("--force", is_flag=True, help=N_("Replace the data of a database that is not empty."))
@click.pass_context
def demo(ctx: click.Context, database_url: str | None, cards: int, seed: int, force: bool) -> None:
    from store.demo import build_demo
    from store.migrate import upgrade

    db = _database(database_url or ctx.obj.get("database_url"))
    upgrade(db.engine)
    from store.demo import DemoExists

    def progress(done: int, total: int, what: str) -> None:
        click.echo(f"\r{what}: {done}/{total}", nl=False)
        if done >= total:
            click.echo()

    try:
        summary = build_demo(db, cards=cards, seed=seed, force=force, progress=progress)
    except DemoExists as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary)
    _sign_demo_invoices(db)
    _print_demo_logins()


@main.group("config",
    help=N_("The config file (TOML): theme, language, download folder, idle timeouts, kiosk mode, keys."))
def config_group() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


@config_group.command("path", help=N_("Print where the config file is read from (whether or not it exists)."))
@click.pass_context
def config_path_command(ctx: click.Context) -> None:
    from tui.config import config_path

    click.echo(str(config_path(ctx.find_root().obj.get("config_file"))))


@config_group.command("example",
    help=N_("Print a commented example config file (e.g. `cardsonline config example > \"$(cardsonline config "
            "path)\"`)."))
def config_example() -> None:
    from tui.config import EXAMPLE

    click.echo(EXAMPLE, nl=False)


@config_group.command("check", help=N_("Read and check the config file; exit 2 with the problem when it has one."))
@click.pass_context
def config_check(ctx: click.Context) -> None:
    from tui.config import ConfigError, config_path, load_config

    path = config_path(ctx.find_root().obj.get("config_file"))
    try:
        config = load_config(ctx.find_root().obj.get("config_file"))
    except ConfigError as exc:
        click.echo(_("Error in the config file: {error}").format(error=exc), err=True)
        ctx.exit(2)
    click.echo(_("{path}: OK").format(path=path) if config.path is not None else
               _("{path}: no file; the defaults apply.").format(path=path))


@config_group.command("ids",
    help=N_("List the binding ids [keys] can remap and the menu item ids [kiosk] screens can name."))
def config_ids() -> None:
    from tui.config import known_binding_ids
    from tui.menu import MENU

    click.echo(_("Binding ids ([keys]): {ids}").format(ids=", ".join(sorted(known_binding_ids()))))
    click.echo(_("Menu item ids ([kiosk] screens): {ids}").format(ids=", ".join(item.id for item in MENU)))


@main.group(help=N_("Database administration."))
def db() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


@db.command("upgrade", help=N_("Bring the database schema to the newest version (Alembic head)."))
@database_url_option
@click.pass_context
def db_upgrade(ctx: click.Context, database_url: str | None) -> None:
    from store.migrate import current_revision, upgrade

    database = _database(database_url or ctx.find_root().obj.get("database_url"))
    upgrade(database.engine)
    click.echo(_("Database at revision {revision}.").format(revision=current_revision(database.engine)))


@db.command("rebuild-month-totals",
    help=N_("Recompute the per-card month totals the monthly reports read from the transactions (after transactions "
            "written by other means than the import; `issuer set-timezone` recomputes a customer's cards itself)."))
@database_url_option
@click.pass_context
def db_rebuild_month_totals(ctx: click.Context, database_url: str | None) -> None:
    import time

    from store.issuer.month_totals import rebuild_month_totals

    database = _database(database_url or ctx.find_root().obj.get("database_url"))
    database.ensure_schema()
    started = time.perf_counter()
    with database.engine.begin() as connection:
        lines = rebuild_month_totals(connection)
    click.echo(_("{count:,} card months recomputed in {seconds:.1f} s.").format(
        count=lines, seconds=time.perf_counter() - started))


class IsoDateTime(click.ParamType):
    """An ISO 8601 date-time for `--now`; without a zone it is taken as UTC."""

    name = "ISO-DATETIME"

    def convert(self, value, param, ctx):
        from datetime import datetime, timezone

        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(_("{value!r} is not an ISO date-time such as 2026-11-27T06:00 or 2026-11-27T06:00+01:00").format(
                value=value), param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


now_option = click.option("--now", type=IsoDateTime(), default=None,
                          help=N_("Run as if it were this moment (ISO date-time; UTC when no zone is given)."))


def _batch_database(ctx: click.Context, database_url: str | None, now):
    from store.db import Database, FixedClock

    database = Database(database_url or ctx.find_root().obj.get("database_url"),
                        clock=FixedClock(now) if now is not None else None)
    database.ensure_schema()
    return database


@main.group(help=N_("The issuer's batches (what the card company's back office runs, e.g. from cron)."))
def issuer() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


@issuer.command("process-requests",
    help=N_("Produce what customers asked for: number new cards, make and ship plastics, confirm toll conditions."))
@database_url_option
@now_option
@click.option("--all", "all_due", is_flag=True, help=N_("Handle every open request now, ignoring the 24-hour processing time."))
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), default=24, show_default=True,
              help=N_("Processing time: a request is handled once it has waited this long."))
@click.pass_context
def issuer_process_requests(ctx: click.Context, database_url: str | None, now, all_due: bool, hours: float) -> None:
    from datetime import timedelta

    from store.issuer.production import process_requests

    database = _batch_database(ctx, database_url, now)
    with database.session() as session:
        report = process_requests(session, database.clock.now(), processing_time=timedelta(hours=hours),
                                  all_due=all_due)
    click.echo(str(report))


@issuer.command("renewals",
    help=N_("The renewal campaign (Fiche 12): notices at M-3, reminders at M-2, new plastics at M-1, activation at "
            "M.\n\nIdempotent: a second run at the same moment changes nothing."))
@database_url_option
@now_option
@click.pass_context
def issuer_renewals(ctx: click.Context, database_url: str | None, now) -> None:
    from store.issuer.renewals import run_renewals

    database = _batch_database(ctx, database_url, now)
    with database.session() as session:
        report = run_renewals(session, database.clock.now())
    click.echo(str(report))


@issuer.command("nightly",
    help=N_("The nightly work: apply the driver-code blocks that are due (more than 5 blocked at once wait for the "
            "next morning, 06:00 in the customer's time zone). Idempotent: running it twice changes nothing more."))
@database_url_option
@now_option
@click.pass_context
def issuer_nightly(ctx: click.Context, database_url: str | None, now) -> None:
    from store.issuer.nightly import run_nightly

    database = _batch_database(ctx, database_url, now)
    click.echo(str(run_nightly(database, database.clock.now())))


@issuer.command("set-timezone",
    help=N_("Set the time zone of the customer holding CUSTOMER_NUMBER to ZONE (an IANA name such as "
            "Europe/Brussels); the month totals of all its cards are recomputed in the new zone in the same "
            "transaction."))
@database_url_option
@now_option
@click.argument("customer_number")
@click.argument("zone")
@click.pass_context
def issuer_set_timezone(ctx: click.Context, database_url: str | None, now, customer_number: str, zone: str) -> None:
    from sqlmodel import select

    from store.models import Customer, CustomerNumber
    from store.services.context import ISSUER
    from store.services.customers import change_timezone
    from store.services.errors import DomainError

    database = _batch_database(ctx, database_url, now)
    with database.session() as session:
        customer = session.exec(select(Customer).join(CustomerNumber, CustomerNumber.customer_id == Customer.id)
                                .where(CustomerNumber.number == customer_number.strip())).first()
        if customer is None:
            raise click.ClickException(_("This customer number does not exist."))
        try:
            lines = change_timezone(session, ISSUER, database.clock.now(), customer.id, zone)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(_("{customer}: time zone {zone}; {count:,} card months recomputed.").format(
            customer=customer.name, zone=customer.timezone, count=lines))


@issuer.command("import-transactions",
    help=N_("Import the issuer's daily transaction file (CSV or xlsx; format in "
            "store/issuer/transactions_import.py).\n\nEach row is checked for anomalies; rejected rows are listed "
            "with their line number and reason and the import goes on. Idempotent: a second import of the same "
            "file adds nothing."))
@database_url_option
@now_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-alerts", is_flag=True, help=N_("Do not queue the anomaly alert e-mails (the next run will)."))
@click.option("--show-rejected", type=click.IntRange(min=0), default=50, show_default=True,
              help=N_("Print at most this many rejected rows (line number and reason)."))
@click.pass_context
def issuer_import_transactions(ctx: click.Context, database_url: str | None, now, file: Path, no_alerts: bool,
                               show_rejected: int) -> None:
    from store.issuer.transactions_import import ImportFileError, import_transactions

    database = _batch_database(ctx, database_url, now)

    def progress(report) -> None:
        click.echo("\r" + _("{rows:,} rows read, {imported:,} imported …").format(rows=report.rows, imported=report.imported),
                   nl=False, err=True)

    with database.session() as session:
        try:
            report = import_transactions(session, file, database.clock.now(), alerts=not no_alerts,
                                         progress=progress)
        except ImportFileError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo("", err=True)
    click.echo(str(report))
    for rejection in report.rejections[:show_rejected]:
        click.echo("  " + _("rejected {rejection}").format(rejection=rejection))
    if report.rejected > min(show_rejected, len(report.rejections)):
        more = report.rejected - min(show_rejected, len(report.rejections))
        click.echo("  " + ngettext("… and {count:,} more rejected row.", "… and {count:,} more rejected rows.",
                                   more).format(count=more))


@issuer.command("simulate-transactions",
    help=N_("Make realistic fuel, service and toll traffic for the active cards and import it like the issuer's "
            "file (anomalies detected, alerts queued). Deterministic per seed; running it again adds nothing."))
@database_url_option
@now_option
@click.option("--days", type=click.IntRange(min=1, max=3660), required=True, help=N_("Simulate the days before now."))
@click.option("--seed", type=int, default=2026, show_default=True, help=N_("Random seed: same seed, same traffic."))
@click.option("--cards-limit", type=click.IntRange(min=1), default=None,
              help=N_("Only the first this many active cards and OBUs (by id)."))
@click.option("--break-rate", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help=N_("Share of the stops that deliberately break one of the card's rules."))
@click.option("--no-alerts", is_flag=True, help=N_("Do not queue the anomaly alert e-mails."))
@click.pass_context
def issuer_simulate_transactions(ctx: click.Context, database_url: str | None, now, days: int, seed: int,
                                 cards_limit: int | None, break_rate: float, no_alerts: bool) -> None:
    from store.issuer.simulate import simulate_transactions

    database = _batch_database(ctx, database_url, now)

    def progress(report) -> None:
        click.echo("\r" + _("{count:,} transactions …").format(count=report.imported), nl=False, err=True)

    with database.session() as session:
        report = simulate_transactions(session, database.clock.now(), days=days, seed=seed, cards_limit=cards_limit,
                                       break_rate=break_rate, alerts=not no_alerts, progress=progress)
    click.echo("", err=True)
    click.echo(str(report))


# --- outbox ------------------------------------------------------------------------------------------

SMTP_URL_ENV = "CARDSONLINE_SMTP_URL"


@main.group(help=N_("The e-mail outbox: deliver pending mails over SMTP, or read them (issuer side: no portal "
                    "login)."))
def outbox() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


@outbox.command("send",
    help=N_("Deliver the due pending e-mails through the SMTP server of $CARDSONLINE_SMTP_URL.\n\n"
            "URL: smtp://[user:password@]host[:port][?starttls=1][&from=ADDRESS][&cafile=PEM], or smtps://… for "
            "implicit TLS. Failures that may pass (server unreachable, 4xx) are retried later with back-off; 5xx "
            "answers fail the mail at once. Exits with 1 when a mail failed for good in this run."))
@database_url_option
@now_option
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help=N_("At most this many mails in one run."))
@click.pass_context
def outbox_send(ctx: click.Context, database_url: str | None, now, limit: int) -> None:
    import os

    from store.services.outbox import parse_smtp_url, send_pending

    url = os.environ.get(SMTP_URL_ENV, "").strip()
    if not url:
        raise click.ClickException(_(
            "${variable} is not set: no mail server to send through. Set it, e.g. "
            "{variable}='smtp://mail.example.com:587?starttls=1', or read the mails with "
            "`cardsonline outbox list`.").format(variable=SMTP_URL_ENV))
    try:
        settings = parse_smtp_url(url)
    except ValueError as exc:
        raise click.ClickException(f"${SMTP_URL_ENV}: {exc}") from exc
    database = _batch_database(ctx, database_url, now)
    with database.session() as session:
        report = send_pending(session, database.clock.now(), settings, limit=limit)
    for line in report.errors:
        click.echo(line, err=True)
    click.echo(_("{report} (via {server})").format(report=report, server=settings.describe()))
    if report.failed:
        ctx.exit(1)


@outbox.command("list", help=N_("The outbox's mails, newest first: readable even without a mail server."))
@database_url_option
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), default=None,
              help=N_("Only the mails with this status."))
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help=N_("Newest this many."))
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help=N_("table: one line per mail; json: every field, with the body."))
@click.pass_context
def outbox_list(ctx: click.Context, database_url: str | None, status: str | None, limit: int,
                output_format: str) -> None:
    import json

    from store.models import OutboxStatus
    from store.services.context import ISSUER
    from store.services.outbox import list_outbox

    database = _batch_database(ctx, database_url, None)
    with database.session() as session:
        rows = list_outbox(session, ISSUER, OutboxStatus(status) if status else None, limit=limit)

    def moment(value):
        return value.isoformat() if value is not None else None

    if output_format == "json":
        click.echo(json.dumps([
            {"id": r.id, "status": r.status.value, "to": r.to_address, "user": r.username, "language": r.language,
             "subject": r.subject, "body": r.body, "attempts": r.attempts, "created_at": moment(r.created_at),
             "next_attempt_at": moment(r.next_attempt_at), "sent_at": moment(r.sent_at),
             "last_error": r.last_error}
            for r in rows], ensure_ascii=False, indent=2))
        return
    click.echo(f"{'id':>6}  {'status':<7}  {'created (UTC)':<16}  {'to':<30}  subject")
    for r in rows:
        click.echo(f"{r.id:>6}  {r.status.value:<7}  {r.created_at:%Y-%m-%d %H:%M}  {r.to_address[:30]:<30}  "
                   f"{r.subject}")
    if not rows:
        click.echo(_("(no mail)"))


# --- export ------------------------------------------------------------------------------------------

PASSWORD_ENV = "CARDSONLINE_PASSWORD"
OTP_ENV = "CARDSONLINE_OTP"  # the one-time code of a user with two-factor sign-in


class IsoDate(click.ParamType):
    """A calendar day as YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        from datetime import date

        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(_("{value!r} is not a date such as 2026-11-27 (YYYY-MM-DD)").format(value=value), param, ctx)


class EnumValue(click.ParamType):
    """A value of one of the store's enums, as its lower-case words (e.g. "in production").

    The enum is looked up on first use: importing store.models at start-up would load SQLAlchemy.
    """

    def __init__(self, enum_name: str, metavar: str):
        self.enum_name = enum_name
        self.name = metavar

    def _enum(self):
        from store import models

        return getattr(models, self.enum_name)

    def convert(self, value, param, ctx):
        enum_cls = self._enum()
        if isinstance(value, enum_cls):
            return value
        lookup = {member.value.lower(): member for member in enum_cls}
        found = lookup.get(" ".join(str(value).lower().replace("-", " ").split()))
        if found is None:
            choices = ", ".join(repr(member.value) for member in enum_cls)
            self.fail(_("{value!r} is not one of {choices}").format(value=value, choices=choices), param, ctx)
        return found


def _login(database, user: str | None):
    """Authenticate as a portal user (password from $CARDSONLINE_PASSWORD or a hidden prompt, and for a user
    with two-factor sign-in the one-time code from $CARDSONLINE_OTP or a prompt); the Actor."""
    import os

    from store.services.auth import authenticate, verify_second_factor
    from store.services.errors import DomainError

    if not user:
        raise click.ClickException(_("Give the portal user to act as with --user NAME."))
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = click.prompt(_("Password for {user}").format(user=user), hide_input=True, err=True)
    with database.session() as session:
        try:
            result = authenticate(session, user, password, database.clock.now())
            if result.second_factor == "setup":
                raise click.ClickException(_(
                    "An administrator requires two-factor sign-in for this user: set it up at your next login "
                    "in the app first, then use the command with its code."))
            if result.second_factor is not None:
                code = os.environ.get(OTP_ENV)
                if code is None:
                    code = click.prompt(_("One-time code for {user}").format(user=user), err=True)
                result = verify_second_factor(session, result, code.strip(), database.clock.now())
            return result.actor
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc


@main.group(help=N_("Files that leave the system (Excel exports)."))
def export() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


def fleet_filter_options(fn):
    """The card/OBU filters shared by `export fleet` and `cards list`."""
    options = [
        click.option("--customer-number", "customer_numbers", multiple=True, metavar="NUMBER",
                     help=N_("Only this customer number (repeatable; default: all of the user's).")),
        click.option("--search", default="",
                     help=N_("Text in the card number, licence plate, driver name or division.")),
        click.option("--status", "statuses", multiple=True, type=EnumValue("CardStatus", "STATUS"),
                     help=N_("Card status (repeatable): new, 'in production', active, blocked, deleted, expired.")),
        click.option("--type", "product_types", multiple=True, type=EnumValue("ProductType", "TYPE"),
                     help=N_("Card/OBU type (repeatable): 'fleet card', 'passango obu', 'libert obu'.")),
        click.option("--renewal-status", "renewal_statuses", multiple=True,
                     type=EnumValue("RenewalStatus", "RENEWAL-STATUS"),
                     help=N_("Renewal status (repeatable): none, 'candidate for renewal', cancelled, 'in renewal', "
                          "renewed.")),
        click.option("--expiry-from", type=IsoDate(), default=None, help=N_("Expiry on or after this day.")),
        click.option("--expiry-to", type=IsoDate(), default=None, help=N_("Expiry on or before this day.")),
        click.option("--last-use-from", type=IsoDate(), default=None, help=N_("Last used on or after this day.")),
        click.option("--last-use-to", type=IsoDate(), default=None, help=N_("Last used on or before this day.")),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


FILTER_PARAMS = ("customer_numbers", "search", "statuses", "product_types", "renewal_statuses", "expiry_from",
                 "expiry_to", "last_use_from", "last_use_to")


def _card_filter(session, actor, customer_numbers=(), search="", statuses=(), product_types=(),
                 renewal_statuses=(), expiry_from=None, expiry_to=None, last_use_from=None, last_use_to=None):
    from sqlmodel import select

    from store.models import CustomerNumber
    from store.queries.card_filter import CardFilter

    number_ids = []
    for number in customer_numbers:
        found = session.exec(select(CustomerNumber).where(CustomerNumber.number == number.strip())).first()
        if found is None or (not actor.is_issuer and found.id not in actor.customer_number_ids):
            raise click.ClickException(_("Unknown customer number {number}, or not one you may use.").format(
                number=number))
        number_ids.append(found.id)
    return CardFilter(
        customer_number_ids=tuple(number_ids), text=search, statuses=tuple(statuses),
        product_types=tuple(product_types), renewal_statuses=tuple(renewal_statuses),
        expiry_from=expiry_from, expiry_to=expiry_to, last_use_from=last_use_from, last_use_to=last_use_to,
    )


user_option = click.option("--user", "user", envvar="CARDSONLINE_USER", default=None,
                           help=N_("Portal user name to act as (password from $CARDSONLINE_PASSWORD or a prompt)."))


@export.command("fleet",
    help=N_("Export the cards and OBUs matching the filters to Excel (Fiche 06), every match, as a portal user."))
@database_url_option
@user_option
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help=N_("The .xlsx file to write (replaced only when the export is complete)."))
@fleet_filter_options
@click.pass_context
def export_fleet(ctx: click.Context, database_url: str | None, user: str | None, output: Path, **filters) -> None:
    from exports.fleet_xlsx import write_fleet_xlsx
    from store.queries.fleet_export import count_fleet, fleet_export_rows
    from store.services.errors import DomainError

    if output.suffix.lower() != ".xlsx":
        raise click.ClickException(_("{file} does not end in .xlsx: give an Excel file name.").format(file=output))
    if not output.parent.exists():
        raise click.ClickException(_("The folder {folder} does not exist.").format(folder=output.parent))
    database = _batch_database(ctx, database_url, None)
    actor = _login(database, user)

    with database.session() as session:
        card_filter = _card_filter(session, actor, **filters)
        try:
            total = count_fleet(session, actor, card_filter)
            rows = fleet_export_rows(session, actor, card_filter)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        show_progress = sys.stderr.isatty()

        def progress(done: int, of: int | None) -> None:
            if show_progress:
                click.echo("\r" + (_("Exporting: {done:,}/{total:,}").format(done=done, total=of) if of else
                                   _("Exporting: {done:,}").format(done=done)), nl=False, err=True)

        try:
            result = write_fleet_xlsx(rows, output, total=total, progress=progress)
        except OSError as exc:
            raise click.ClickException(_("Could not write {file}: {error}").format(file=output,
                                                                                  error=exc.strerror or exc)) from exc
        if show_progress:
            click.echo(err=True)
    click.echo(_("Exported {count:,} cards/OBUs to {path}").format(count=result.rows, path=result.path))


@main.group(help=N_("Cards and OBUs for scripts: list, show, block — as a portal user, through the same rules."))
def cards() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


format_option = click.option("--format", "output_format", type=click.Choice(["table", "csv", "json"]),
                             default="table", show_default=True, help=N_("Output format."))


@cards.command("list", help=N_("List every card/OBU matching the filters (streamed: fine for 100,000 cards)."))
@database_url_option
@user_option
@format_option
@fleet_filter_options
@click.pass_context
def cards_list(ctx: click.Context, database_url: str | None, user: str | None, output_format: str, **filters) -> None:
    from exports.card_records import card_record, table_lines, write_csv, write_json
    from store.queries.fleet_export import fleet_export_rows
    from store.services.errors import DomainError

    database = _batch_database(ctx, database_url, None)
    actor = _login(database, user)
    with database.session() as session:
        card_filter = _card_filter(session, actor, **filters)
        try:
            records = (card_record(row) for row in fleet_export_rows(session, actor, card_filter))
            out = sys.stdout
            if output_format == "json":
                write_json(records, out)
            elif output_format == "csv":
                write_csv(records, out)
            else:
                for line in table_lines(records):
                    out.write(line + "\n")
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc


def _card_by_number(session, actor, number: str):
    """The actor's card or OBU with this number (exact), or a ClickException saying it is not theirs."""
    from store.queries.card_filter import CardFilter
    from store.queries.fleet_export import fleet_export_rows

    number = number.replace(" ", "")
    for row in fleet_export_rows(session, actor, CardFilter(text=number)):
        if row.number == number:
            return row
    raise click.ClickException(_("No card or OBU {number} among your customer numbers.").format(number=number))


@cards.command("show", help=N_("Everything about one card or OBU: general information, limits, controls."))
@database_url_option
@user_option
@click.argument("number")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help=N_("Output format."))
@click.pass_context
def cards_show(ctx: click.Context, database_url: str | None, user: str | None, number: str,
               output_format: str) -> None:
    import json

    from exports.card_records import card_record
    from store.services.errors import DomainError

    database = _batch_database(ctx, database_url, None)
    actor = _login(database, user)
    with database.session() as session:
        try:
            record = card_record(_card_by_number(session, actor, number), details=True)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    if output_format == "json":
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    for key, value in record.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            click.echo(f"{key}:")
            for item in value:
                click.echo("  " + ", ".join(f"{k}={v}" for k, v in item.items() if v is not None))
        elif isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"{key}: {value}")


@cards.command("block", help=N_("Block a card or OBU for good (Fiche 09); optionally order a duplicate."))
@database_url_option
@user_option
@click.argument("number")
@click.option("--reason", required=True, type=click.Choice(["theft", "loss", "not-received", "defect"]),
              help=N_("Why the card is blocked."))
@click.option("--duplicate", is_flag=True, help=N_("Order a duplicate: a new card, new number, same settings."))
@click.pass_context
def cards_block(ctx: click.Context, database_url: str | None, user: str | None, number: str, reason: str,
                duplicate: bool) -> None:
    from store.models import BlockReason
    from store.services.cards import block_card
    from store.services.errors import DomainError

    database = _batch_database(ctx, database_url, None)
    actor = _login(database, user)
    with database.session() as session:
        try:
            row = _card_by_number(session, actor, number)
            result = block_card(session, actor, database.clock.now(), row.id, BlockReason(reason.replace("-", " ")),
                                duplicate)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(_("Blocked {number} ({reason}).").format(number=result.card.number,
                                                        reason=_(reason.replace("-", " "))))
    if result.duplicate_request is not None:
        click.echo(_("Duplicate ordered: request {request}; follow it in My requests.").format(
            request=result.duplicate_request.id))


@main.group(help=N_("Monthly reports for scripts (follow-up per card/OBU, consumption, budget follow-up), as a portal "
                    "user."))
def reports() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


class YearMonth(click.ParamType):
    """A calendar month as YYYY-MM."""

    name = "YYYY-MM"

    def convert(self, value, param, ctx):
        from datetime import date

        if isinstance(value, date):
            return value.replace(day=1)
        try:
            year, month = str(value).strip().split("-")
            return date(int(year), int(month), 1)
        except ValueError:
            self.fail(_("{value!r} is not a month such as 2026-11 (YYYY-MM)").format(value=value), param, ctx)


@reports.command("export",
    help=N_("Export a monthly report over a period to Excel (Monthly reports → Data export), one row per month."))
@database_url_option
@user_option
@click.option("--report", "report", type=click.Choice(["followup", "consumption", "budget"]), required=True,
              help=N_("followup: per card/OBU month by month; consumption: litres, l/100 km, cost per km; budget: "
                   "budgets against actual spend."))
@click.option("--from", "first", type=YearMonth(), required=True, help=N_("First month of the period (YYYY-MM)."))
@click.option("--to", "last", type=YearMonth(), required=True, help=N_("Last month of the period (YYYY-MM)."))
@click.option("--customer-number", "customer_numbers", multiple=True, metavar="NUMBER",
              help=N_("Only this customer number (repeatable; default: all of the user's)."))
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help=N_("The .xlsx file to write (replaced only when the export is complete)."))
@click.pass_context
def reports_export(ctx: click.Context, database_url: str | None, user: str | None, report: str, first, last,
                   customer_numbers: tuple[str, ...], output: Path) -> None:
    from sqlmodel import select

    from exports.report_xlsx import write_report_xlsx
    from store.models import CustomerNumber
    from store.queries.reports import MonthRange
    from store.services.errors import DomainError

    if output.suffix.lower() != ".xlsx":
        raise click.ClickException(_("{file} does not end in .xlsx: give an Excel file name.").format(file=output))
    if not output.parent.exists():
        raise click.ClickException(_("The folder {folder} does not exist.").format(folder=output.parent))
    try:
        period = MonthRange(first, last)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    database = _batch_database(ctx, database_url, None)
    actor = _login(database, user)
    with database.session() as session:
        query = select(CustomerNumber.id, CustomerNumber.number).order_by(CustomerNumber.number)
        if not actor.is_issuer:
            query = query.where(CustomerNumber.id.in_(actor.customer_number_ids))
        mine = {number: number_id for number_id, number in session.exec(query).all()}
        wanted = [n.strip() for n in customer_numbers] or list(mine)
        unknown = [n for n in wanted if n not in mine]
        if unknown:
            raise click.ClickException(_("Unknown customer number {number}, or not one you may use.").format(
                number=unknown[0]))
        try:
            result = write_report_xlsx(session, actor, report, [(mine[n], n) for n in wanted], period, output)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        except OSError as exc:
            raise click.ClickException(_("Could not write {file}: {error}").format(file=output,
                                                                                  error=exc.strerror or exc)) from exc
    click.echo(_("Exported {count:,} rows ({report}, {period}) to {path}").format(
        count=result.rows, report=report, period=period.label(), path=result.path))


# --- invoices: the issuer's keys and monthly invoicing, and checking an invoice's signatures ----------------

@issuer.group("keys",
    help=N_("The invoice signing keys (a passphrase-protected PKCS#12 and the issuer CA certificate)."))
def issuer_keys() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


@issuer_keys.command("init",
    help=N_("For demos and tests: make an issuer CA and a signing certificate (digital signature, "
            "non-repudiation) in a PKCS#12 protected by $CARDSONLINE_SIGNING_PASSPHRASE. In production, point "
            "CARDSONLINE_SIGNING_P12 to the PKCS#12 of a real CA instead. Existing files are never overwritten."))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=N_("Folder for issuer-ca.pem and issuer-signing.p12 (default: keys/ in the user data dir)."))
def issuer_keys_init(out_dir: Path | None) -> None:
    import os
    from datetime import datetime, timezone

    from exports.invoice_signing import P12_ENV, PASSPHRASE_ENV, SigningKeyError, init_keys, keys_dir

    passphrase = os.environ.get(PASSPHRASE_ENV)
    if not passphrase:
        raise click.ClickException(_("Set {variable} to the passphrase that will protect the signing key.").format(
            variable=PASSPHRASE_ENV))
    try:
        files = init_keys(out_dir or keys_dir(), passphrase.encode("utf-8"), datetime.now(timezone.utc))
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_("Issuer CA certificate (public, the trust root): {path}").format(path=files.ca_cert))
    click.echo(_("Signing key and certificate (PKCS#12, passphrase from {variable}): {path}").format(
        variable=PASSPHRASE_ENV, path=files.signer_p12))
    if out_dir is not None:
        click.echo(_("Use them with {settings}").format(
            settings=f"{P12_ENV}={files.signer_p12} CARDSONLINE_ISSUER_CA={files.ca_cert}"))


@issuer.command("invoice",
    help=N_("One signed invoice per customer number for the month's transactions and card fees, numbered gapless "
            "per year, e-mailed to the customer alert recipients. One commit per invoice: a failed run leaves no "
            "half invoice and running it again completes the month; a month already invoiced is refused."))
@database_url_option
@now_option
@click.option("--month", type=YearMonth(), required=True, help=N_("The month to invoice (YYYY-MM); it must be over."))
@click.option("--customer-number", "customer_numbers", multiple=True, metavar="NUMBER",
              help=N_("Only this customer number (repeatable; default: all)."))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help=N_("Also write each new invoice's PDF, .p7s and billing data files (TID CSV, xlsx) to this folder, "
                      "and the missing files of the month's invoices made before (checked writable first)."))
@click.option("--portal-link", envvar="CARDSONLINE_PORTAL_LINK", default=None, metavar="TEMPLATE",
              help=N_("The link in the e-mail, with {number} for the invoice number "
                      "(default: $CARDSONLINE_PORTAL_LINK, else cardsonline://invoices/{number})."))
@click.pass_context
def issuer_invoice(ctx: click.Context, database_url: str | None, now, month, customer_numbers: tuple[str, ...],
                   out_dir: Path | None, portal_link: str | None) -> None:
    import shlex

    from exports.invoice_signing import SigningKeyError, load_signer, signing_config
    from exports.invoicing import InvoiceFilesNotWritten, OutputFolderError, issue_month
    from store.issuer.invoicing import DEFAULT_PORTAL_LINK, InvoicingFailed, MonthAlreadyInvoiced
    from store.services.errors import DomainError

    config = signing_config()
    try:
        signer = load_signer(config.p12, config.passphrase)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    database = _batch_database(ctx, database_url, now)

    def progress(report) -> None:
        count = len(report.issued)
        click.echo("\r" + ngettext("{count:,} invoice …", "{count:,} invoices …", count).format(count=count), nl=False,
                   err=True)

    def again() -> str:
        """The command that writes the missing files (and completes the month)."""
        words = ["cardsonline", "issuer", "invoice", "--month", f"{month:%Y-%m}"]
        for number in customer_numbers:
            words += ["--customer-number", number]
        return shlex.join(words + ["--out", str(out_dir)])

    with database.session() as session:
        try:
            report = issue_month(session, month, database.clock.now(), signer, out_dir=out_dir,
                                 customer_numbers=customer_numbers or None,
                                 portal_link=portal_link or DEFAULT_PORTAL_LINK, progress=progress)
        except OutputFolderError as exc:
            raise click.ClickException(str(exc)) from exc
        except MonthAlreadyInvoiced as exc:
            if out_dir is not None:
                raise click.ClickException(_("{refusal} The files of the month's invoices are all in {folder}.").format(
                    refusal=exc.message, folder=out_dir)) from exc
            raise click.ClickException(exc.message) from exc
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        except InvoicingFailed as exc:
            click.echo("", err=True)
            click.echo(str(exc.report))
            raise click.ClickException(str(exc)) from exc
        except InvoiceFilesNotWritten as exc:
            click.echo("", err=True)
            if exc.report.issued or exc.report.files_rewritten:
                click.echo(str(exc.report))
            raise click.ClickException(_("{problem}\nTo write the missing files: {command}").format(
                problem=exc, command=again())) from exc
    click.echo("", err=True)
    click.echo(str(report))


@main.group(help=N_("Invoices: check the signatures of an invoice PDF and its .p7s."))
def invoices() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


@invoices.command("verify",
    help=N_("Check the PDF's embedded signature and, when given, the detached signature FILE.p7s over the PDF, "
            "against the issuer CA. Exit 0 only when every check passes; otherwise exit 1 and say what is wrong."))
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("p7s", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help=N_("The issuer CA certificate to trust, PEM (default: $CARDSONLINE_ISSUER_CA, else "
                   "keys/issuer-ca.pem in the user data dir)."))
def invoices_verify(pdf: Path, p7s: Path | None, ca_file: Path | None) -> None:
    from exports.invoice_signing import SigningKeyError, load_trust_roots, signing_config, verify_pair

    try:
        roots = load_trust_roots(ca_file or signing_config().ca_cert)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    result = verify_pair(pdf.read_bytes(), p7s.read_bytes() if p7s is not None else None, roots)
    if result.valid:
        values = dict(pdf=pdf.name, p7s=p7s.name if p7s else "", signer=result.signer, when=result.signed_at)
        if p7s and result.signed_at:
            text = _("Valid: the PDF signature and the detached signature {p7s} of {pdf} are intact and made by "
                     "{signer} (trusted issuer CA), signed {when:%d/%m/%Y %H:%M} UTC.")
        elif p7s:
            text = _("Valid: the PDF signature and the detached signature {p7s} of {pdf} are intact and made by "
                     "{signer} (trusted issuer CA).")
        elif result.signed_at:
            text = _("Valid: the PDF signature of {pdf} is intact and made by {signer} (trusted issuer CA), signed "
                     "{when:%d/%m/%Y %H:%M} UTC.")
        else:
            text = _("Valid: the PDF signature of {pdf} is intact and made by {signer} (trusted issuer CA).")
        click.echo(text.format(**values))
        if p7s is None:
            click.echo(_("(No .p7s given: only the signature inside the PDF was checked.)"))
        return
    click.echo(_("NOT VALID: {pdf} with {p7s}:").format(pdf=pdf.name, p7s=p7s.name) if p7s else
               _("NOT VALID: {pdf}:").format(pdf=pdf.name))
    ok, failed = _("ok"), _("FAILED")
    click.echo("  " + _("PDF signature: {result}").format(result=ok if result.pdf_signature_ok else failed))
    if result.cms_ok is not None:
        click.echo("  " + _("detached signature (.p7s): {result}").format(result=ok if result.cms_ok else failed))
    for problem in result.problems:
        click.echo(f"  - {problem}")
    sys.exit(1)


@main.group(help=N_("Serve the portal to remote terminals."))
def serve() -> None:
    pass  # the help is the decorator's (N_, translated on the help page)


@serve.command("ssh",
    help=N_("The portal over SSH: every connection gets its own portal process on its own pseudo-terminal. Stops "
            "on SIGTERM or Ctrl+C, ending the sessions. One log line per session start and end, on stderr."))
@database_url_option
@click.option("--host", default="127.0.0.1", show_default=True, help=N_("Address to listen on (0.0.0.0: every one)."))
@click.option("--port", type=click.IntRange(0, 65535), default=2222, show_default=True,
              help=N_("TCP port to listen on (0: any free port, logged at start)."))
@click.option("--host-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=N_("The server's private host key; generated (ed25519, mode 0600) on first start and kept "
                   "(default: ssh_host_ed25519_key in the user data dir)."))
@click.option("--max-sessions", type=click.IntRange(min=1), default=20, show_default=True,
              help=N_("Sessions at once; a connection beyond them is told so and closed."))
@click.option("--authorized-keys", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help=N_("Admit only the public keys in this authorized_keys file (default: no SSH authentication; "
                   "the portal's login authenticates the person)."))
@click.option("--idle-minutes", type=click.FloatRange(min=0), default=None, envvar="CARDSONLINE_IDLE_MINUTES",
              help=N_("Log a session out after this many idle minutes (default 15; 0: never)."))
@click.option("--lock-after", type=click.IntRange(min=1), default=None, envvar="CARDSONLINE_LOCK_AFTER",
              help=N_("Wrong passwords in a row that lock an account (default 5)."))
@click.option("--lock-minutes", type=click.IntRange(min=1), default=None, envvar="CARDSONLINE_LOCK_MINUTES",
              help=N_("How long a locked account stays locked (default 15 minutes)."))
@click.pass_context
def serve_ssh(ctx: click.Context, database_url: str | None, host: str, port: int, host_key: Path | None,
              max_sessions: int, authorized_keys: Path | None, idle_minutes: float | None, lock_after: int | None,
              lock_minutes: int | None) -> None:
    import asyncio
    import logging

    from store.db import default_database_url, sqlite_path
    from tui.ssh_server import ServerConfig, portal_argv, serve as serve_ssh_forever

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)  # its per-packet chatter; ours is a line per session
    url = database_url or ctx.obj.get("database_url") or default_database_url()
    path = sqlite_path(url)
    if path is not None and not path.exists():
        # As `cardsonline` does on a first run, but once here rather than in every session at once.
        from store.demo import build_demo

        db = _database(url)
        click.echo(_("New database at {path}: adding demo data …").format(path=path), err=True)
        db.ensure_schema()
        click.echo(build_demo(db), err=True)
        _sign_demo_invoices(db)
        db.dispose()
    # The database URL reaches the sessions through their environment, not their command line (`ps` shows that).
    config = ServerConfig(child_argv=portal_argv(None, idle_minutes, lock_after, lock_minutes), host=host,
                          port=port, host_key=host_key, max_sessions=max_sessions, authorized_keys=authorized_keys,
                          extra_env={DATABASE_URL_ENV: url})
    if ctx.find_root().obj.get("config_file"):  # `cardsonline --config FILE serve ssh`: the sessions read it too
        config.extra_env["CARDSONLINE_CONFIG"] = str(Path(ctx.find_root().obj["config_file"]).resolve())
    try:
        asyncio.run(serve_ssh_forever(config))
    except (OSError, ValueError) as exc:  # the port is taken, the host key cannot be read …
        raise click.ClickException(_("Cannot serve SSH on {host}:{port}: {error}").format(host=host, port=port,
                                                                                         error=exc)) from exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
