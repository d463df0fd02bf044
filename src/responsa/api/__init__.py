"""The HTTP edge: parse, delegate to the engine, render. No translation logic lives here."""
