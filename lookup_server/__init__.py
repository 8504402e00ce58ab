"""The lookup server: Flask app factory, API, snapshot store with hot swap, session overlay."""
