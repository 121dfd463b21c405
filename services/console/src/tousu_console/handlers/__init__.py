"""One function per thing a person or a system asks of the console itself.

Everything about complaints is the four services' business (the console calls
their APIs with the person's token); what is left here is the console's own
state — sign-in, sessions, the language — and the telephone's call events.
"""
