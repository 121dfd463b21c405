"""The console: the staff's web workbench, a backend for the front end.

It owns no complaint data. Every read and write goes to the four services'
public APIs with the signed-in person's access token, so every permission
check stays where it already is; the console's only state is sessions.
"""
