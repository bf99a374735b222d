"""Entry point for `pulumi up` / `pulumi preview`: the whole program lives in boutique/."""

from boutique.program import run

run()
