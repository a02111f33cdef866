"""Shared by the analytics scripts (flat repo layout, no packages)."""

import pandas as pd


def summarize(rows):
    frame = pd.DataFrame(rows)
    return frame.describe().to_dict() if not frame.empty else {}
