"""The Tools lab: function calling made visible, with FlightAI's real tools (a SQLite price table and bookings).

schema.py       a typed function -> the JSON schema the model sees; the argument rules (types, not ifs)
registry.py     the tools a model may call; running one call; every refusal becomes a message, not a crash
constrained.py  tool calls from a model without tool support: JSON under a schema, decoded by llama.cpp
loop.py         the loop: ask -> run the calls -> append ``tool`` messages -> ask again, round by round
flightai.py     FlightAI: get_ticket_price and book_flight over SQLite, the system prompt, the questions
cli.py          ``python -m lab tools ask|prices|reliability``
"""
