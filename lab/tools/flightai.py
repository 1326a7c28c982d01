"""FlightAI, the course's airline assistant, with real tools over a SQLite database.

``FlightDB(path)`` creates and seeds one database file (a ``prices`` table of destinations and fares, a
``bookings`` table); its methods are the tools. ``ask()`` runs one question through ``lab.tools.run_tools``.

    >>> import tempfile, pathlib
    >>> db = FlightDB(pathlib.Path(tempfile.mkdtemp()) / "flightai.db")
    >>> db.get_ticket_price("London", "paris")
    {'origin': 'London', 'destination': 'Paris', 'price_usd': 899.0}
    >>> db.book_flight("Ada Lovelace", "London", "Tokyo", today() + datetime.timedelta(days=30))["booking_id"]
    1
    >>> db.bookings()[0]["destination"]
    'Tokyo'

Every query uses SQL parameters (``?``), never string formatting: a destination of ``"x' OR '1'='1"`` is
looked up as that odd city name and not found, instead of rewriting the query.

The tools' arguments come from model output, so their types say what is acceptable and ``ToolRegistry`` checks
them with pydantic before anything runs: names are trimmed and must not be blank (``"  "`` passes a plain
``min_length``), a departure date must lie in the booking window (today on this server's clock up to
``BOOKING_YEARS`` years ahead: airlines sell about a year ahead; 2 years leaves room and refuses 1900 or 2300),
and a city must be in the price table (checked against the data, reported as ``refused``). A refusal goes back to
the model as its ``tool`` message, which names the argument and the rule, and the loop goes on:

    >>> from lab.llm.base import ToolCall
    >>> rec = registry(db).execute(ToolCall("c1", "book_flight",
    ...     '{"passenger": " ", "origin": "London", "destination": "Paris", "date": "1900-01-01"}'))
    >>> rec.status, "passenger: Value error, must not be blank" in rec.content, "date: Value error" in rec.content
    ('invalid_arguments', True, True)
    >>> len(db.bookings())         # nothing was written
    1
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Annotated, Callable

from pydantic import AfterValidator, Field

from lab.core.errors import InputError
from lab.llm.base import Message, Options, Provider
from lab.tools.loop import LoopResult, Strategy, run_tools
from lab.tools.registry import ToolRegistry
from lab.tools.schema import ToolArgumentError, not_blank

SYSTEM_PROMPT = (
    "You are a helpful assistant for an Airline called FlightAI. Give short, courteous answers, "
    "no more than 1 sentence. Always be accurate. If you don't know the answer, say so."
)
# Return fares in US dollars, as in the course notebook plus a few more cities.
SEED_PRICES = {"London": 799.0, "Paris": 899.0, "Tokyo": 1400.0, "Berlin": 499.0, "New York": 1099.0, "Sydney": 1899.0}

BOOKING_YEARS = 2  # a departure may be booked from today up to this many years ahead (see the module docstring)


def today() -> datetime.date:
    """Today on this server's clock: the first day a flight can be booked for."""
    return datetime.date.today()


def booking_window(first: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    """``(today, the same day BOOKING_YEARS years later)``; 29 February falls back to the 28th."""
    first = first or today()
    try:
        return first, first.replace(year=first.year + BOOKING_YEARS)
    except ValueError:
        return first, first.replace(year=first.year + BOOKING_YEARS, day=28)


def bookable(day: datetime.date) -> datetime.date:
    """An ``AfterValidator``: the departure must lie in ``booking_window()``, or the message says where it must."""
    first, last = booking_window()
    if not first <= day <= last:
        raise ValueError(
            f"{day.isoformat()} is outside the booking window: departures from {first.isoformat()} "
            f"(today) to {last.isoformat()} ({BOOKING_YEARS} years ahead)"
        )
    return day


City = Annotated[str, Field(min_length=2, max_length=60), AfterValidator(not_blank)]
Origin = Annotated[City, Field(description="City the flight leaves from, e.g. 'London'")]
Destination = Annotated[City, Field(description="City the flight goes to, e.g. 'Paris'")]
Passenger = Annotated[
    str, Field(min_length=1, max_length=100, description="Full name of the passenger"), AfterValidator(not_blank)
]
# strict: a JSON string "YYYY-MM-DD" only (lax pydantic would read 20300501 as unix seconds, 1970-08-23)
Departure = Annotated[
    datetime.date,
    Field(strict=True, description=f"Day of departure, YYYY-MM-DD, from today up to {BOOKING_YEARS} years ahead"),
    AfterValidator(bookable),
]
_LOCK = threading.Lock()  # sqlite3 serialises writers itself; this only keeps create-and-seed from racing


def default_db_path() -> Path:
    from lab.core.settings import get_settings

    return get_settings().data_dir / "flightai.db"


class FlightDB:
    """One FlightAI database file. Each call opens its own connection (sqlite3 connections are per thread)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, closing(self._connect()) as con, con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS prices (destination TEXT PRIMARY KEY COLLATE NOCASE, "
                "price_usd REAL NOT NULL CHECK (price_usd >= 0))"
            )
            con.execute(
                "CREATE TABLE IF NOT EXISTS bookings (booking_id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "passenger TEXT NOT NULL CHECK (trim(passenger) <> ''), origin TEXT NOT NULL, "
                "destination TEXT NOT NULL, date TEXT NOT NULL, price_usd REAL NOT NULL, created_at TEXT NOT NULL)"
            )
            if con.execute("SELECT COUNT(*) FROM prices").fetchone()[0] == 0:
                con.executemany("INSERT INTO prices VALUES (?, ?)", SEED_PRICES.items())

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10)
        con.row_factory = sqlite3.Row
        return con

    # ------------------------------------------------------------------------------------ the tools
    def get_ticket_price(self, origin: Origin, destination: Destination) -> dict:
        """Get the price of a return ticket from the origin city to the destination city.

        FlightAI charges one flat fare per destination, whatever the origin.
        """
        if origin.strip().lower() == destination.strip().lower():
            raise ToolArgumentError("destination", "is the same city as the origin; ask for two different cities.")
        with closing(self._connect()) as con:
            row = con.execute(
                "SELECT destination, price_usd FROM prices WHERE destination = ?", (destination.strip(),)
            ).fetchone()
        if row is None:
            raise ToolArgumentError(
                "destination",
                f"FlightAI does not fly to {destination.strip()!r}. Destinations: {', '.join(self.prices())}.",
            )
        return {"origin": origin.strip(), "destination": row["destination"], "price_usd": row["price_usd"]}

    def book_flight(self, passenger: Passenger, origin: Origin, destination: Destination, date: Departure) -> dict:
        """Book a return flight for a passenger and return the booking confirmation."""
        known = {c.lower(): c for c in self.prices()}
        if origin.strip().lower() not in known:  # a fare needs only the destination; a booking needs a real departure
            raise ToolArgumentError(
                "origin", f"FlightAI does not fly from {origin.strip()!r}. Cities: {', '.join(known.values())}."
            )
        fare = self.get_ticket_price(known[origin.strip().lower()], destination)
        with closing(self._connect()) as con, con:
            cur = con.execute(
                "INSERT INTO bookings (passenger, origin, destination, date, price_usd, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    passenger.strip(),
                    fare["origin"],
                    fare["destination"],
                    date.isoformat(),
                    fare["price_usd"],
                    datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                ),
            )
        return {"booking_id": cur.lastrowid, "passenger": passenger.strip(), **fare, "date": date.isoformat()}

    def list_destinations(self) -> list[str]:
        """List every city FlightAI flies to."""
        return list(self.prices())

    # ------------------------------------------------------------------------------------ the page's views
    def prices(self) -> dict[str, float]:
        with closing(self._connect()) as con:
            return {r["destination"]: r["price_usd"] for r in con.execute("SELECT * FROM prices ORDER BY destination")}

    def set_prices(self, prices: dict[str, float]) -> None:
        """Replace the whole price table (the page's editor). Names are trimmed; prices must be >= 0."""
        clean = {str(k).strip(): float(v) for k, v in prices.items() if str(k or "").strip()}
        if not clean:
            raise InputError("The price table would be empty: keep at least one destination.")
        if any(v < 0 or v != v for v in clean.values()):
            raise InputError("Prices must be numbers >= 0 (US dollars).")
        with closing(self._connect()) as con, con:
            con.execute("DELETE FROM prices")
            con.executemany("INSERT OR REPLACE INTO prices VALUES (?, ?)", clean.items())

    def bookings(self) -> list[dict]:
        with closing(self._connect()) as con:
            return [dict(r) for r in con.execute("SELECT * FROM bookings ORDER BY booking_id")]


# ---------------------------------------------------------------------------------------------- extra tools
# Safe examples a learner can switch on: pure functions over fixed tables (no network, no files, no eval).
UTC_OFFSETS = {"London": 0, "Paris": 1, "Berlin": 1, "Tokyo": 9, "New York": -5, "Sydney": 10}  # standard time, hours
USD_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0, "AUD": 1.52}  # units per US dollar, illustrative
Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(not_blank)]  # ISO 4217: three letters


def get_local_time(city: Annotated[City, Field(description="City name, e.g. 'Tokyo'")]) -> str:
    """Get the current local time in a city (standard time, from a fixed table of UTC offsets)."""
    offsets = {k.lower(): v for k, v in UTC_OFFSETS.items()}
    if city.strip().lower() not in offsets:
        raise ToolArgumentError("city", f"No time zone known for {city.strip()!r}. Known: {', '.join(UTC_OFFSETS)}.")
    now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=offsets[city.strip().lower()])
    return f"{now:%H:%M} in {city.strip()}"


def convert_currency(
    amount: Annotated[float, Field(ge=0, le=1e9, description="Amount of money to convert")],
    from_currency: Annotated[Currency, Field(description="ISO code to convert from, e.g. USD")],
    to_currency: Annotated[Currency, Field(description="ISO code to convert to, e.g. EUR")],
) -> str:
    """Convert an amount of money between currencies (fixed illustrative rates, not live ones)."""
    src, dst = from_currency.strip().upper(), to_currency.strip().upper()
    for arg, code in (("from_currency", src), ("to_currency", dst)):
        if code not in USD_RATES:
            raise ToolArgumentError(arg, f"Unknown currency {code!r}. Known: {', '.join(USD_RATES)}.")
    return f"{amount:.2f} {src} = {amount / USD_RATES[src] * USD_RATES[dst]:.2f} {dst}"


EXTRA_TOOLS: dict[str, Callable] = {
    "list_destinations": FlightDB.list_destinations,
    "get_local_time": get_local_time,
    "convert_currency": convert_currency,
}


def registry(db: FlightDB, extras: list[str] = ()) -> ToolRegistry:
    """FlightAI's tools: the two core ones plus the chosen extras (by name, from ``EXTRA_TOOLS`` only)."""
    unknown = [e for e in extras if e not in EXTRA_TOOLS]
    if unknown:
        raise InputError(f"Unknown extra tool {unknown[0]!r}; choose from {', '.join(EXTRA_TOOLS)}.")
    reg = ToolRegistry([db.get_ticket_price, db.book_flight])
    for name in extras:
        reg.register(getattr(db, name) if name == "list_destinations" else EXTRA_TOOLS[name])
    return reg


def ask(
    provider: Provider,
    question: str,
    *,
    db: FlightDB | None = None,
    history: list[Message] | None = None,
    extras: list[str] = (),
    model: str | None = None,
    options: Options | None = None,
    max_rounds: int = 5,
    strategy: Strategy = "auto",
) -> LoopResult:
    """One question to FlightAI. ``history`` is an earlier ``LoopResult.messages`` (system prompt included)."""
    if not question.strip():
        raise InputError("The question is empty: ask FlightAI something, e.g. 'How much is a ticket to Paris?'.")
    db = db or FlightDB()
    messages = list(history or [{"role": "system", "content": SYSTEM_PROMPT}])
    messages.append({"role": "user", "content": question.strip()})
    return run_tools(
        provider,
        messages,
        registry(db, list(extras)),
        model=model,
        options=options or Options(temperature=0.0),
        max_rounds=max_rounds,
        strategy=strategy,
    )


# ---------------------------------------------------------------------------------------------- reliability
# Twenty price questions, each naming one destination: the same question set for every model measured.
RELIABILITY_QUESTIONS = [
    ("How much is a ticket to Paris?", "Paris"),
    ("What does a flight from London to Tokyo cost?", "Tokyo"),
    ("Price of a return ticket to Berlin, please.", "Berlin"),
    ("I want to fly to Sydney. How much?", "Sydney"),
    ("How much to fly from Paris to New York?", "New York"),
    ("What is the fare to London?", "London"),
    ("Tokyo ticket price?", "Tokyo"),
    ("How expensive is a flight from Berlin to Paris?", "Paris"),
    ("Can you tell me the cost of a ticket to Berlin?", "Berlin"),
    ("How much is a return flight to Sydney?", "Sydney"),
    ("What would a trip from Tokyo to London cost me?", "London"),
    ("Flights to New York: what price?", "New York"),
    ("How much does FlightAI charge for Paris?", "Paris"),
    ("Ticket from Sydney to Tokyo, how much?", "Tokyo"),
    ("What's the price to go to Berlin from London?", "Berlin"),
    ("How much is it to fly to New York?", "New York"),
    ("Please give me the fare from New York to Sydney.", "Sydney"),
    ("Cost of flying to London from Paris?", "London"),
    ("I need a ticket to Paris from Tokyo. Price?", "Paris"),
    ("How much for a flight to Tokyo?", "Tokyo"),
]


def measure_calls(
    provider: Provider,
    *,
    tries: int = 20,
    model: str | None = None,
    strategy: Strategy = "auto",
    db: FlightDB | None = None,
    on_try: Callable[[dict], None] | None = None,
) -> dict:
    """Ask ``tries`` price questions (greedy decoding) and count how often the model's *first* reply is

    - a **valid** call: a tool the registry knows, arguments that pass pydantic validation;
    - the **right** call: ``get_ticket_price`` with the asked destination, run without error;
    - and how often the final **answer** quotes the right price (the whole loop, at most 3 rounds).
    """
    if not 1 <= tries <= len(RELIABILITY_QUESTIONS):
        raise InputError(f"tries must be between 1 and {len(RELIABILITY_QUESTIONS)}.")
    db = db or FlightDB()
    prices = {k.lower(): v for k, v in db.prices().items()}
    rows = []
    for question, city in RELIABILITY_QUESTIONS[:tries]:
        result = ask(provider, question, db=db, model=model, max_rounds=3, strategy=strategy)
        first = result.rounds[0].calls[:1]
        valid = bool(first) and first[0].status in ("ok", "refused", "tool_error")  # passed the schema
        args = json.loads(first[0].arguments) if valid else {}
        right = (
            valid
            and first[0].status == "ok"
            and first[0].name == "get_ticket_price"
            and str(args.get("destination", "")).strip().lower() == city.lower()
        )
        price = prices.get(city.lower())
        quoted = price is not None and f"{price:,.0f}".replace(",", "") in result.answer.replace(",", "")
        row = {
            "question": question,
            "call": first[0].name + first[0].arguments if first else None,
            "valid": valid,
            "right": right,
            "answer": result.answer,
            "price_quoted": quoted,
        }
        rows.append(row)
        if on_try:
            on_try(row)
    return {
        "tries": len(rows),
        "valid_calls": sum(r["valid"] for r in rows),
        "right_calls": sum(r["right"] for r in rows),
        "right_price_in_answer": sum(r["price_quoted"] for r in rows),
        "rows": rows,
    }
