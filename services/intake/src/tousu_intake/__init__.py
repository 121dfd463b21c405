"""Intake: takes complaints on every channel, gives them a reference, announces them."""
