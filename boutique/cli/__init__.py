"""Tools on top of the program: the mocks runner, render, diff and graph (`python -m boutique ...`).
They run the same program `pulumi up` runs; nothing below imports them.
"""
