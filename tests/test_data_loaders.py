"""Loading bundled and user data, alignment across symbols, and every class of bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxtrade.data.loaders import from_dataframes, load_csv, load_parquet
from jaxtrade.data.samples import load_sample, sample_path
from jaxtrade.data.types import CLOSE, HIGH, OPEN, VOLUME
from jaxtrade.errors import DataError


def _bars(n=10, start="2021-01-04", freq="D", close0=100.0, seed=0):
    rng = np.random.default_rng(seed)
    close = close0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    return pd.DataFrame({
        "Date": pd.date_range(start, periods=n, freq=freq).strftime("%Y-%m-%d %H:%M:%S"),
        "Open": open_,
        "High": np.maximum(open_, close) * 1.01,
        "Low": np.minimum(open_, close) * 0.99,
        "Close": close,
        "Volume": rng.integers(1_000, 10_000, n).astype(float),
    })


def _write(tmp_path, df, name="SYM.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


# --- bundled real data -------------------------------------------------------------------------


def test_stocks_daily_sample(stocks):
    assert stocks.symbols == ("AAPL", "GOOG", "IBM", "MSFT")
    assert stocks.prices.shape == (4, 3270, 5)
    ts = stocks.timestamps()
    assert str(ts[0]) == "2000-03-01T00:00:00" and str(ts[-1]) == "2013-03-01T00:00:00"
    valid = np.asarray(stocks.valid)
    assert valid[[0, 2, 3]].all()
    # GOOG listed on 2004-08-19: masked before, real after.
    goog_first = np.flatnonzero(valid[1])[0]
    assert str(ts[goog_first]) == "2004-08-19T00:00:00"
    assert valid[1].sum() == 2148 and not valid[1, :goog_first].any()
    assert 245 < stocks.bars_per_year() < 258


def test_stocks_are_split_adjusted(stocks):
    """AAPL split 2:1 on 2005-02-28; adjusted closes show no -50 % jump, and match the source."""
    raw = pd.read_csv(sample_path("stocks_daily"))
    aapl = raw[raw.Ticker == "AAPL"].reset_index(drop=True)
    close = np.asarray(stocks.prices[0, :, CLOSE], np.float64)
    np.testing.assert_allclose(close, aapl["Adj Close"].to_numpy(), rtol=1e-6)
    split = int(np.flatnonzero(aapl.Date.to_numpy() == "2005-02-28")[0])
    raw_ret = np.log(aapl.Close[split] / aapl.Close[split - 1])
    adj_ret = np.log(close[split] / close[split - 1])
    assert raw_ret < np.log(0.55)  # the unadjusted 2:1 split shows as a halving
    assert abs(adj_ret) < 0.05
    # OHLC scaled by the same factor: the bar's shape is kept.
    factor = aapl["Adj Close"] / aapl.Close
    np.testing.assert_allclose(np.asarray(stocks.prices[0, :, HIGH]), aapl.High * factor, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(stocks.prices[0, :, VOLUME]), aapl.Volume / factor, rtol=1e-6)


def test_eurusd_hourly_sample(eurusd):
    assert eurusd.symbols == ("EURUSD",)
    assert eurusd.prices.shape == (1, 6225, 5)
    ts = eurusd.timestamps()
    assert str(ts[0]) == "2017-01-01T22:00:00" and str(ts[-1]) == "2017-12-29T21:00:00"
    assert np.median(np.diff(ts).astype(int)) == 3600
    close = np.asarray(eurusd.prices[0, :, CLOSE])
    assert 1.0 < close.min() < close.max() < 1.3


def test_samples_ship_with_the_package_and_import_no_data_package():
    import jaxtrade

    for name in ("stocks_daily", "eurusd_hourly"):
        assert sample_path(name).is_relative_to(Path(jaxtrade.__file__).parent)
    code = (
        "import sys; from jaxtrade.data.samples import load_sample; "
        "load_sample('stocks_daily'); load_sample('eurusd_hourly'); "
        "bad = [m for m in ('bokeh_sampledata', 'gym_anytrading', 'gymnasium', 'bokeh') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sample_symbol_selection_and_errors():
    data = load_sample("stocks_daily", ["MSFT", "AAPL"])
    assert data.symbols == ("MSFT", "AAPL")
    with pytest.raises(DataError, match="unknown sample 'nope'"):
        load_sample("nope")
    with pytest.raises(DataError, match=r"symbols \['TSLA'\] not found"):
        load_sample("stocks_daily", ["TSLA"])


# --- alignment ---------------------------------------------------------------------------------


def test_alignment_masks_gaps_and_never_invents_bars(tmp_path):
    a = _bars(10, seed=1)
    b = _bars(10, seed=2).drop(index=[0, 1, 5]).reset_index(drop=True)  # late start + a gap
    c = _bars(12, seed=3)  # two extra bars at the end
    data = load_csv({"A": _write(tmp_path, a, "a.csv"), "B": _write(tmp_path, b, "b.csv"),
                     "C": _write(tmp_path, c, "c.csv")})
    assert data.symbols == ("A", "B", "C")
    assert data.prices.shape == (3, 12, 5)
    valid = np.asarray(data.valid)
    np.testing.assert_array_equal(valid[0], [True] * 10 + [False] * 2)
    np.testing.assert_array_equal(valid[1], [False, False, True, True, True, False] + [True] * 4 + [False] * 2)
    assert valid[2].all()
    p = np.asarray(data.prices, np.float64)
    # Real bars are stored exactly as given.
    np.testing.assert_allclose(p[1, valid[1], CLOSE], b.Close, rtol=1e-6)
    np.testing.assert_allclose(p[0, :10, OPEN], a.Open, rtol=1e-6)
    # Masked bars carry the last real close, flat, with zero volume; before the first bar, the first open.
    np.testing.assert_allclose(p[1, 5, :4], b.Close[2], rtol=1e-6)
    np.testing.assert_allclose(p[1, :2, :4], b.Open[0], rtol=1e-6)
    np.testing.assert_allclose(p[0, 10:, :4], a.Close.iloc[-1], rtol=1e-6)
    assert (p[~valid][:, VOLUME] == 0).all()


def test_long_format_csv_and_parquet_agree(tmp_path):
    frames = {"X": _bars(8, seed=4), "Y": _bars(8, seed=5)}
    long = pd.concat([f.assign(ticker=s) for s, f in frames.items()], ignore_index=True)
    from_csv = load_csv(_write(tmp_path, long, "long.csv"))
    long.to_parquet(tmp_path / "long.parquet")
    from_pq = load_parquet(tmp_path / "long.parquet")
    from_df = from_dataframes(frames)
    for other in (from_pq, from_df):
        assert other.symbols == from_csv.symbols == ("X", "Y")
        np.testing.assert_allclose(np.asarray(other.prices), np.asarray(from_csv.prices), rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(other.day), np.asarray(from_csv.day))


def test_optional_sentiment_and_aux_columns(tmp_path):
    df = _bars(6).assign(sentiment=np.linspace(-1, 1, 6), p_down=0.2, p_flat=0.3, p_up=0.5)
    data = load_csv(_write(tmp_path, df))
    np.testing.assert_allclose(np.asarray(data.sentiment[0]), np.linspace(-1, 1, 6), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(data.aux[0]), [[0.2, 0.3, 0.5]] * 6, rtol=1e-6)
    plain = load_csv(_write(tmp_path, _bars(6), "plain.csv"))
    assert (np.asarray(plain.sentiment) == 0).all()
    np.testing.assert_allclose(np.asarray(plain.aux), 1 / 3, rtol=1e-6)


def test_column_names_are_never_silently_ignored_or_doubled(tmp_path, caplog):
    df = _bars(6)
    # tidyquant's `adjusted`: prices scale by adjusted / close, as with adj_close.
    adjusted = load_csv(_write(tmp_path, df.assign(adjusted=df["Close"] * 0.5), "adj.csv"))
    np.testing.assert_allclose(np.asarray(adjusted.prices[0, :, CLOSE]), df["Close"] * 0.5, rtol=1e-6)
    with caplog.at_level("WARNING", logger="jaxtrade.data.loaders"):
        load_csv(_write(tmp_path, df.assign(vwap=1.0, notes="x"), "extra.csv"))
    assert "['vwap', 'notes'] not used" in caplog.text
    with pytest.raises(DataError, match=r"columns 'Close' and 'close' name the same field \('close'\)"):
        load_csv(_write(tmp_path, df.assign(close=df["Close"] * 2), "both.csv"))
    long = pd.concat([_bars(6, seed=1).assign(ticker="X"), _bars(6, seed=2).assign(ticker=None)],
                     ignore_index=True)
    with pytest.raises(DataError, match="row 6 has no 'ticker'"):
        load_csv(_write(tmp_path, long, "blank.csv"))


def test_csv_written_with_an_unnamed_date_index_and_blank_lines(tmp_path):
    df = _bars(6).set_index("Date")
    df.index.name = None
    path = tmp_path / "indexed.csv"
    df.to_csv(path)  # header ",Open,High,...": the dates sit in an unnamed first column
    data = load_csv(path)
    np.testing.assert_allclose(np.asarray(data.prices[0, :, CLOSE]), df["Close"], rtol=1e-6)
    # Blank lines do not shift the line numbers errors quote.
    text = path.read_text().splitlines()
    bad = df.copy()
    bad.iloc[4, bad.columns.get_loc("Close")] = -1.0
    bad.to_csv(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ["", ""] + lines[2:]) + "\n")  # two blank lines after row 1
    assert len(text) == 7
    with pytest.raises(DataError, match=r"column 'close', line 8: price -1.0 is not positive"):
        load_csv(path)


def test_bars_per_year_come_from_each_symbols_own_bars():
    """Two symbols that never overlap (2010-2012 and 2016-2018 business days): the union spans 9 years
    with 6 years of bars (a span-based estimate gives ~174); per symbol each has 261 bars a whole year."""
    a = _bars(3 * 261, start="2010-01-01", freq="B", seed=1)
    b = _bars(3 * 261, start="2016-01-01", freq="B", seed=2)
    data = from_dataframes({"A": a, "B": b})
    assert 255 < data.bars_per_year() < 263
    long = _bars(6 * 261, start="2010-01-01", freq="B", seed=3)
    gappy = from_dataframes({"A": long.drop(index=range(300, 400))})  # 100 bars of 2011 missing
    assert 255 < gappy.bars_per_year() < 263  # the median of the whole years 2011-2014 ignores the gap


def test_symbols_are_never_merged_or_doubled(tmp_path):
    from jaxtrade.data.config import DataConfig
    from jaxtrade.errors import ConfigError

    long = pd.concat([_bars(6, seed=1).assign(ticker="X"), _bars(6, seed=2).assign(ticker="Y")], ignore_index=True)
    path = _write(tmp_path, long, "long.csv")
    with pytest.raises(DataError, match=r"given as the one symbol 'SPY' but holds 2 symbols \['X', 'Y'\]"):
        load_csv({"SPY": path})
    with pytest.raises(DataError, match="listed more than once"):
        load_csv(path, symbols=["X", "X"])
    with pytest.raises(ConfigError, match="data.symbols: a symbol is listed more than once"):
        DataConfig(symbols=("AAPL", "AAPL"))
    assert load_csv({"X": _write(tmp_path, _bars(6), "x.csv")}).symbols == ("X",)


def test_timezones_are_converted_to_utc(tmp_path):
    df = _bars(3)
    df["Date"] = ["2021-01-04 09:30:00-05:00", "2021-01-05 09:30:00-05:00", "2021-01-06 09:30:00-05:00"]
    data = load_csv(_write(tmp_path, df))
    assert str(data.timestamps()[0]) == "2021-01-04T14:30:00"
    assert int(data.second[0]) == 14 * 3600 + 30 * 60


# --- bad input ---------------------------------------------------------------------------------


def _set_text(df, row, column, text):
    df[column] = df[column].astype(object)
    df.loc[row, column] = text


def _corrupt(tmp_path, mutate, name="bad.csv"):
    df = _bars(10)
    mutate(df)
    return _write(tmp_path, df, name)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d.__delitem__("Volume"), r"missing required column\(s\) \['volume'\]"),
        (lambda d: d.loc.__setitem__((3, "Close"), np.nan), r"column 'close', line 5: .*NaN"),
        (lambda d: d.loc.__setitem__((4, "Open"), np.inf), r"column 'open', line 6: .*NaN, inf"),
        (lambda d: _set_text(d, 2, "Volume", "abc"), r"column 'volume', line 4: .*not a number"),
        (lambda d: d.loc.__setitem__((6, "Low"), 0.0), r"column 'low', line 8: price 0.0 is not positive"),
        (lambda d: d.loc.__setitem__((1, "Close"), -5.0), r"column 'close', line 3: price -5.0 is not positive"),
        (lambda d: d.loc.__setitem__((7, "Volume"), -1.0), r"column 'volume', line 9: volume -1.0 is negative"),
        (lambda d: d.loc.__setitem__((7, "Volume"), 1e39), r"column 'volume', line 9: volume 1e\+39 exceeds"),
        (lambda d: d.loc.__setitem__((2, slice("Open", "Close")), 1e-50),
         r"column 'open', line 4: price 1e-50 is outside the range float32"),
        (lambda d: d.loc.__setitem__((2, slice("Open", "Close")), 1e39),
         r"column 'open', line 4: price 1e\+39 is outside the range float32"),
        (lambda d: d.loc.__setitem__((5, "High"), d.Low[5] * 0.5), r"column 'high', line 7: high .* below low"),
        (lambda d: d.loc.__setitem__((2, "Open"), d.High[2] * 2), r"column 'open', line 4: .*outside the bar's range"),
        (lambda d: d.loc.__setitem__((8, "Date"), d.Date[7]), r"column 'time', line 10: duplicate timestamp"),
        (lambda d: d.loc.__setitem__((4, "Date"), "2020-01-01"), r"column 'time', line 6: timestamps not sorted"),
        (lambda d: d.loc.__setitem__((3, "Date"), "yesterday"),
         r"column 'time', line 5: cannot parse timestamp 'yesterday'"),
    ],
    ids=["missing-column", "nan", "inf", "non-numeric", "zero-price", "negative-price", "negative-volume",
         "huge-volume", "tiny-prices", "huge-prices",
         "high-below-low", "open-outside-range", "duplicate-timestamp", "unsorted", "bad-timestamp"],
)
def test_bad_csv_input_names_file_column_and_line(tmp_path, mutate, pattern):
    path = _corrupt(tmp_path, mutate)
    with pytest.raises(DataError, match=pattern) as info:
        load_csv(path)
    assert str(path) in str(info.value)


def test_too_short_series(tmp_path):
    path = _write(tmp_path, _bars(5))
    with pytest.raises(DataError, match=r"series too short: 5 bars, at least 30 needed"):
        load_csv(path, min_bars=30)


def test_bad_input_in_long_file_reports_symbol_and_file_line(tmp_path):
    long = pd.concat([_bars(5, seed=1).assign(symbol="A"), _bars(5, seed=2).assign(symbol="B")],
                     ignore_index=True)
    long.loc[7, "Close"] = np.nan  # symbol B's third bar, line 9 of the file
    with pytest.raises(DataError, match=r"\[B\]: column 'close', line 9"):
        load_csv(_write(tmp_path, long, "long.csv"))


def test_bad_parquet_and_frames_report_rows(tmp_path):
    df = _bars(6)
    df.loc[2, "High"] = df.Low[2] / 2
    df.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"bad.parquet: column 'high', row 2"):
        load_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"frame 'Z': column 'high', row 2"):
        from_dataframes({"Z": df})


def test_file_level_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_csv(tmp_path / "absent.csv")
    (tmp_path / "garbage.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot read as parquet"):
        load_parquet(tmp_path / "garbage.parquet")
    same = _write(tmp_path, _bars(4).assign(ticker="A"), "one.csv")
    again = _write(tmp_path, _bars(4).assign(ticker="A"), "two.csv")
    with pytest.raises(DataError, match="appears in more than one file"):
        load_csv([same, again])
    df = _bars(4)
    df["Date"] = np.arange(4)
    with pytest.raises(DataError, match="numeric timestamps such as 0 are ambiguous"):
        from_dataframes({"N": df})


def test_every_bad_row_is_listed_and_drop_makes_each_a_gap(tmp_path, caplog):
    """A file with four bad rows and one day without trading: the error lists all four with their lines and
    plain numbers; on_bad_rows='drop' loads the rest, the bad rows and the empty day become gaps (valid False,
    the last close carried), and the summary by reason is logged and kept in `notes`."""
    df = _bars(12)
    df.loc[2, "Close"] = df.High[2] * 1.5  # close outside the bar
    df.loc[4, "Volume"] = -3.0
    df.loc[6, "Low"] = np.nan  # one cell missing: a bad row, not a day without trading
    df.loc[8, "Date"] = df.Date[7]  # a repeated timestamp
    df.loc[10, ["Open", "High", "Low", "Close", "Volume"]] = np.nan  # no trading that day: a gap either way
    path = _write(tmp_path, df)
    with pytest.raises(DataError) as info:
        load_csv(path)
    text = str(info.value)
    assert text.startswith(f"{path}: 4 bad row(s)") and "on_bad_rows='drop'" in text
    for pattern in (r"column 'close', line 4: close \d+\.\d+ lies outside", r"column 'volume', line 6: volume -3\.0",
                    r"column 'low', line 8: value nan is NaN", r"column 'time', line 10: duplicate timestamp"):
        assert re.search(pattern, text), (pattern, text)
    assert "np.float64" not in text

    with caplog.at_level("WARNING"):
        data = load_csv(path, on_bad_rows="drop")
    valid, close = np.asarray(data.valid[0]), np.asarray(data.prices[0, :, CLOSE])
    days = data.timestamps().astype("datetime64[D]").astype(str).tolist()
    for row in (2, 4, 6, 10):  # gaps on the calendar of the other days (a one-symbol file: gone from it)
        assert df.Date[row][:10] not in days
    assert valid.all() and len(days) == 12 - 5  # rows 2, 4, 6, 8 (a repeat of row 7's day) and 10 gone
    np.testing.assert_allclose(close, df.Close.drop([2, 4, 6, 8, 10]).to_numpy(), rtol=1e-6)
    note = data.notes[0]
    assert note.startswith(f"{path}: 5 row(s) made gaps") and "day without trading 1" in note
    assert "close outside the bar's range 1" in note and "negative volume 1" in note and note in caplog.text

    # With a second symbol trading every day the dropped bars are gaps on the shared calendar.
    other = _write(tmp_path, _bars(12, seed=3), "OTHER.csv")
    both = load_csv([path, other], on_bad_rows="drop")
    gaps = ~np.asarray(both.valid[0])
    assert gaps.sum() == 5 and gaps[[2, 4, 6, 8, 10]].all()  # day 8 too: its row was a repeat of day 7
    np.testing.assert_allclose(np.asarray(both.prices[0, 2, CLOSE]), df.Close[1], rtol=1e-6)  # carried


def test_a_one_bar_jump_beyond_a_factor_of_three_is_named_as_a_likely_split(tmp_path, caplog):
    df = _bars(10)
    df.loc[5:, ["Open", "High", "Low", "Close"]] *= 10.0  # an unadjusted 1:10 reverse split
    with caplog.at_level("WARNING"):
        load_csv(_write(tmp_path, df))
    assert "line 7: the close moves x10" in caplog.text and "likely an unadjusted split" in caplog.text
    with pytest.raises(DataError, match="on_bad_rows: 'skip' is not one of"):
        load_csv(_write(tmp_path, df), on_bad_rows="skip")


# --- frames in the shapes users hold -----------------------------------------------------------------


def _yf_frame(group_by_ticker=False):
    """What `yf.download(["AAA", "BBB"], auto_adjust=False)` returns: a DatetimeIndex named Date, two-level
    columns (Price, Ticker), BBB listing two days late (NaN rows before)."""
    a, b = _bars(8, seed=1), _bars(8, seed=2)
    b.loc[:1, ["Open", "High", "Low", "Close", "Volume"]] = np.nan
    index = pd.DatetimeIndex(pd.to_datetime(a.Date), name="Date")
    cols = {}
    for ticker, df in (("AAA", a), ("BBB", b)):
        for field in ("Open", "High", "Low", "Close", "Volume"):
            cols[(ticker, field) if group_by_ticker else (field, ticker)] = df[field].to_numpy()
        cols[(ticker, "Adj Close") if group_by_ticker else ("Adj Close", ticker)] = df["Close"].to_numpy()
    frame = pd.DataFrame(cols, index=index)
    frame.columns.names = ["Ticker", "Price"] if group_by_ticker else ["Price", "Ticker"]
    return frame, a, b


def test_yfinance_finrl_mapping_and_single_frames_load_alike():
    import jaxtrade as jt

    yf, a, b = _yf_frame()
    data = jt.from_dataframe(yf)
    assert data.symbols == ("AAA", "BBB")
    assert np.asarray(data.valid).tolist() == [[True] * 8, [False, False] + [True] * 6]  # BBB listed late
    by_ticker = jt.from_dataframe(_yf_frame(group_by_ticker=True)[0])
    mapping = jt.from_dataframe({"AAA": a, "BBB": b.dropna()})
    finrl = pd.concat([a.assign(tic="AAA"), b.dropna().assign(tic="BBB")]).rename(columns=str.lower)
    finrl = finrl.rename(columns={"date": "date"}).assign(day=0, macd=0.1)  # FinRL's extra columns
    long = jt.from_dataframe(finrl)
    single = jt.from_dataframe(a.set_index(pd.DatetimeIndex(pd.to_datetime(a.Date))).drop(columns="Date"),
                               symbol="AAA")
    for other in (by_ticker, mapping, long):
        np.testing.assert_allclose(np.asarray(other.prices), np.asarray(data.prices), rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(other.valid), np.asarray(data.valid))
    np.testing.assert_allclose(np.asarray(single.prices[0]), np.asarray(data.prices[0]), rtol=1e-6)
    with pytest.raises(DataError, match="pass symbol='NAME'"):
        jt.from_dataframe(a)
    with pytest.raises(DataError, match=r"symbols \['CCC'\] not in the frame"):
        jt.from_dataframe(yf, symbols=["CCC"])


def test_close_only_series_and_epoch_timestamps_load_when_asked():
    df = _bars(10)
    closes = df[["Date", "Close"]]
    with pytest.raises(DataError, match="close_only=True"):
        from_dataframes({"X": closes})
    data = from_dataframes({"X": closes}, close_only=True)
    p = np.asarray(data.prices[0], np.float64)
    np.testing.assert_allclose(p[:, :4], np.repeat(df.Close.to_numpy()[:, None], 4, axis=1), rtol=1e-6)
    assert (p[:, VOLUME] == 1.0).all()

    ms = df.assign(Date=(pd.to_datetime(df.Date) - pd.Timestamp(0)) // pd.Timedelta(1, "ms"))  # epoch ms
    assert ms.Date[0] == 1_609_718_400_000
    with pytest.raises(DataError, match=r"numeric timestamps such as \d+ are ambiguous: give time_unit"):
        from_dataframes({"X": ms})
    with pytest.raises(DataError, match="check time_unit"):
        from_dataframes({"X": ms}, time_unit="s")
    epoch = from_dataframes({"X": ms}, time_unit="ms")
    np.testing.assert_array_equal(epoch.timestamps(), from_dataframes({"X": df}).timestamps())
