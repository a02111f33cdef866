from datetime import UTC, date, datetime, timedelta

from flowlib.windows import (
    incremental_window,
    iso_z,
    local_date,
    parse_iso,
    previous_day,
    utc_datetime,
)


def test_incremental_window_defaults_to_the_last_complete_hour():
    window = incremental_window(datetime(2026, 11, 25, 10, 35, tzinfo=UTC), None)
    assert window.start == datetime(2026, 11, 25, 9, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_incremental_window_catches_up_from_the_watermark():
    watermark = datetime(2026, 11, 25, 6, tzinfo=UTC)
    window = incremental_window(datetime(2026, 11, 25, 10, 5, tzinfo=UTC), watermark)
    assert (window.start, window.end) == (watermark, datetime(2026, 11, 25, 10, tzinfo=UTC))


def test_legacy_and_staggered_runs_of_one_slot_load_the_same_window():
    legacy = incremental_window(datetime(2026, 11, 25, 10, 5, tzinfo=UTC), None)
    new = incremental_window(datetime(2026, 11, 25, 10, 35, tzinfo=UTC), None)
    assert legacy == new


def test_window_at_the_watermark_is_empty():
    end = datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert incremental_window(end + timedelta(minutes=5), end).is_empty


def test_explicit_window_wins():
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    window = incremental_window(datetime(2026, 11, 25, tzinfo=UTC), None, start=start, end=end)
    assert (window.start, window.end) == (start, end)


def test_dates_in_time_zones():
    late_evening_utc = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert local_date(late_evening_utc) == date(2026, 11, 24)
    assert local_date(late_evening_utc, "Europe/Zurich") == date(2026, 11, 25)
    assert previous_day(late_evening_utc) == date(2026, 11, 23)


def test_iso_round_trip_and_pendulum_like_input():
    moment = parse_iso("2026-11-25T10:00:00Z")
    assert iso_z(moment) == "2026-11-25T10:00:00Z"
    assert iso_z(parse_iso("2026-11-25T11:00:00+01:00")) == "2026-11-25T10:00:00Z"
    assert type(utc_datetime(moment)) is datetime
