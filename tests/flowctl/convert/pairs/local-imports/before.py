import pkg.helpers as h
from pkg import helpers
from pkg.helpers import double


def quadruple(x):
    return double(helpers.double(x)) + h.double(0)
