"""The sandbox PSP: a stand-alone program implementing docs/psp-protocol.md.

It stands for a company we do not control, so it shares no code, settings or
tables with the Django project and runs on the Python standard library only.
"""
