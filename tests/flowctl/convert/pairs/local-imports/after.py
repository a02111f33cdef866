# Converted from before.py by flowctl convert; see docs/convert.md.
import flows.demo.pkg.helpers as h
from flows.demo.pkg import helpers
from flows.demo.pkg.helpers import double


def quadruple(x):
    return double(helpers.double(x)) + h.double(0)
