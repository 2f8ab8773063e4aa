"""Explorer and Action: controls → figures updated in place, one error path, latencies recorded;
the message overlay, live figures and the guards around plotly's FigureWidget."""

import html

import ipywidgets
import numpy as np
import plotly.graph_objects as go
import pytest

from ntk_helpers import plotting as P
from ntk_helpers import widgets as W
from ntk_helpers.errors import DivergenceError
from ntk_helpers.overlay import MESSAGE_NAME

X = np.linspace(0.0, 1.0, 11)
LAMBDA_MAX = 4.0  # a toy "kernel": gradient descent on one eigen-direction with eigenvalue λ


def gd_residual(eta, steps=20):
    """|1 − ηλ|^t: the residual of discrete gradient descent along an eigenvector."""
    t = np.arange(steps)
    return np.abs(1.0 - eta * LAMBDA_MAX) ** t


def make_toy(**kwargs):
    """Two figures: a line y = a·x and the gradient-descent residual for step size η."""
    line = W.live(P.plot_lines(X, {"network": np.zeros_like(X)}))
    decay = W.live(P.plot_lines(np.arange(20), {"analytic": np.ones(20)}, log_y=True))
    calls = []

    def update(v):
        calls.append(dict(v))
        line.data[0].y = v["a"] * X
        eta = v["eta"]
        if eta >= 2.0 / LAMBDA_MAX:
            raise DivergenceError(
                f"training diverges: η = {eta:.2f} > 2/λ_max = {2 / LAMBDA_MAX:.2f}")
        decay.data[0].y = gd_residual(eta)

    controls = {
        "a": ipywidgets.FloatSlider(value=1.0, min=-2.0, max=2.0, step=0.5),
        "eta": W.float_log_slider("η", -2, 0, 0.1),
    }
    explorer = W.Explorer(controls, [line, decay], update, **kwargs)
    return explorer, line, decay, calls


def test_initial_update_fills_the_figures():
    explorer, line, decay, calls = make_toy(title="toy")
    assert calls == [{"a": 1.0, "eta": 0.1}]
    np.testing.assert_allclose(line.data[0].y, X)
    np.testing.assert_allclose(decay.data[0].y, 0.6 ** np.arange(20))
    assert explorer.message is None and explorer in W.Explorer.instances


def test_control_change_updates_trace_data_in_place():
    explorer, line, decay, _ = make_toy()
    trace = line.data[0]
    explorer.controls["a"].value = -1.5  # what a slider move in the browser does
    assert line.data[0] is trace  # the same trace object, new data
    np.testing.assert_allclose(trace.y, -1.5 * X)
    explorer.controls["eta"].value = 0.2
    np.testing.assert_allclose(decay.data[0].y, 0.2 ** np.arange(20), rtol=1e-12)
    assert len(explorer.latencies["a"]) == 1 and len(explorer.latencies["eta"]) == 1


def test_one_message_per_figure_per_change():
    explorer, line, decay, _ = make_toy()
    sent = []
    for fig in (line, decay):
        original = fig.plotly_update

        def counting(*args, _original=original, _fig=fig, **kwargs):
            sent.append(_fig)
            return _original(*args, **kwargs)

        fig.plotly_update = counting
    explorer.set("eta", 0.05)
    assert sorted(map(id, sent)) == sorted([id(line), id(decay)])


def test_divergence_shows_a_message_and_keeps_the_last_finite_data():
    explorer, line, decay, _ = make_toy()
    before_line = np.array(line.data[0].y)
    before_decay = np.array(decay.data[0].y)
    explorer.set("a", 2.0)  # a valid change first
    explorer.set("eta", 0.9)  # η = 0.9 > 2/λ_max = 0.5: diverges
    expected = "training diverges: η = 0.90 > 2/λ_max = 0.50"
    assert explorer.message == expected
    for fig in (line, decay):
        assert W.message_text(fig) == expected
        for trace in fig.data:
            assert np.all(np.isfinite(trace.y))
    # nothing of the failed update was drawn, not even the part written before the error
    np.testing.assert_allclose(line.data[0].y, 2.0 * X)
    assert not np.allclose(line.data[0].y, before_line)
    np.testing.assert_allclose(decay.data[0].y, before_decay)
    status = html.unescape(explorer.status.value)
    assert expected in status and "Traceback" not in status
    assert explorer.errors["eta"] == 1 and len(explorer.latencies["eta"]) == 1
    # the next successful update clears the message
    explorer.set("eta", 0.25)
    assert explorer.message is None
    assert W.message_text(line) is None and W.message_text(decay) is None
    np.testing.assert_allclose(decay.data[0].y, 0.0 ** np.arange(20))
    assert "ms" in explorer.status.value


def test_non_finite_data_is_never_drawn():
    fig = W.live(P.plot_lines(X, {"network": X}))

    def update(v):  # forgets to check: gradient descent with η above 2/λ_max overflows
        with np.errstate(over="ignore"):
            fig.data[0].y = np.abs(1.0 - v["eta"] * LAMBDA_MAX) ** (1000.0 * X)

    explorer = W.Explorer({"eta": ipywidgets.FloatSlider(value=0.1, max=1.0)}, [fig], update)
    good = np.array(fig.data[0].y)
    explorer.set("eta", 0.8)  # |1 − 3.2|^1000 overflows to inf
    assert explorer.message is not None and "not finite" in explorer.message
    np.testing.assert_allclose(fig.data[0].y, good)
    assert np.all(np.isfinite(fig.data[0].y))


@pytest.mark.parametrize("error", [
    ValueError("width must be ≥ 1"), FloatingPointError("overflow encountered in exp"),
    ZeroDivisionError("float division by zero"), OverflowError("(34, 'Numerical result out of range')"),
    DivergenceError("training diverges at step 12"),
])
def test_every_handled_error_becomes_a_message_over_the_last_good_figure(error):
    fig = W.live(P.figure())
    fig.add_scatter(y=[0.0, 1.0])

    def update(v):
        fig.data[0].y = [v["n"], 0.0]  # written, then discarded with the failed update
        if v["n"] > 1:
            raise error

    explorer = W.Explorer({"n": ipywidgets.IntSlider(value=0, max=3)}, [fig], update)
    explorer.set("n", 1)
    explorer.set("n", 2)
    assert W.message_text(fig) == str(error) == explorer.message
    assert list(fig.data[0].y) == [1.0, 0.0]  # the last good data
    assert not explorer.busy and str(error) in html.unescape(explorer.status.value)
    assert "computing" not in explorer.status.value and explorer.errors["n"] == 1
    explorer.set("n", 0)
    assert W.message_text(fig) is None and list(fig.data[0].y) == [0.0, 0.0]


def test_other_errors_propagate_and_draw_nothing():
    fig = W.live(P.figure())
    fig.add_scatter(y=[0.0, 1.0])

    def update(v):
        fig.data[0].y = [v["n"], v["n"]]
        if v["n"] == 2:
            raise KeyError("a bug")

    explorer = W.Explorer({"n": ipywidgets.IntSlider(value=0, max=3)}, [fig], update)
    with pytest.raises(KeyError):
        explorer.set("n", 2)
    assert list(fig.data[0].y) == [0.0, 0.0] and not explorer.busy
    # the status line is never left on "computing…": it names the bug
    status = html.unescape(explorer.status.value)
    assert "computing" not in status and "unexpected error" in status and "KeyError" in status
    assert explorer.errors["n"] == 1 and len(explorer.latencies["n"]) == 1
    explorer.set("n", 1)  # the next good update draws and clears the status
    assert list(fig.data[0].y) == [1.0, 1.0] and "unexpected" not in explorer.status.value


def test_latencies_busy_flag_and_status():
    seen = []
    fig = W.live(P.figure())
    fig.add_scatter(y=[0.0])
    explorer = None

    def update(v):
        if explorer is not None:
            seen.append((explorer.busy, explorer.status.value))
        fig.data[0].y = [v["k"]]

    explorer = W.Explorer({"k": ipywidgets.IntSlider(value=0, max=10)}, [fig], update)
    for k in (1, 2, 3, 2):
        seconds = explorer.set("k", k)
        assert seconds == explorer.latencies["k"][-1]
    assert len(explorer.latencies["k"]) == 4
    assert all(0 < s < 5 for s in explorer.latencies["k"])
    assert all(busy and "computing" in status for busy, status in seen)
    assert not explorer.busy and "computing" not in explorer.status.value


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_layout_values_are_caught_like_non_finite_data(bad):
    fig = W.live(P.plot_lines(X, {"network": X}))

    def update(v):
        fig.data[0].y = v["a"] * X
        fig.layout.xaxis.range = [0.0, bad if v["a"] > 1 else 1.0]  # e.g. a range from a NaN max

    explorer = W.Explorer({"a": ipywidgets.FloatSlider(value=1.0, max=3.0)}, [fig], update)
    explorer.set("a", 2.0)
    assert explorer.message is not None and "xaxis.range" in explorer.message
    assert tuple(fig.layout.xaxis.range) == (0.0, 1.0)
    np.testing.assert_allclose(fig.data[0].y, X)  # nothing of the failed update was drawn


def test_set_same_value_and_bad_arguments():
    explorer, line, _, calls = make_toy()
    n = len(calls)
    explorer.set("a", 1.0)  # unchanged value: still redrawn and timed
    assert len(calls) == n + 1 and len(explorer.latencies["a"]) == 1
    with pytest.raises(ValueError, match="name must be one of"):
        explorer.set("b", 1.0)
    slider = W.log_slider("width n", [16, 32, 64])
    ex2 = W.Explorer({"n": slider}, [W.live(P.figure())], lambda v: None)
    with pytest.raises(ValueError, match="not allowed for control 'n'"):
        ex2.set("n", 48)


def test_static_figure_equals_the_widget_state():
    explorer, line, decay, _ = make_toy()
    explorer.set("a", -0.5)
    explorer.set("eta", 0.9)  # a message is part of the state too
    static = explorer.static_figure(0)
    assert type(static) is go.Figure
    assert static.to_dict() == line.to_dict()
    assert [s.to_dict() for s in explorer.static_figures()] == [line.to_dict(), decay.to_dict()]
    explorer.set("a", 1.5)  # a copy: later updates do not change it
    np.testing.assert_allclose(static.data[0].y, -0.5 * X)
    with pytest.raises(ValueError, match="index"):
        explorer.static_figure(2)


def test_widget_layout_and_display():
    explorer, line, decay, _ = make_toy(title="toy")
    box = explorer.widget
    assert isinstance(box, ipywidgets.VBox)
    flat = []

    def walk(w):
        flat.append(w)
        for child in getattr(w, "children", ()):
            walk(child)

    walk(box)
    assert all(c in flat for c in explorer.controls.values())
    assert line in flat and decay in flat and explorer.status in flat
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id


def test_round_off_echo_from_the_browser_is_ignored():
    explorer, line, _, calls = make_toy()
    n = len(calls)
    eta = explorer.controls["eta"].value
    explorer.controls["eta"].value = eta * (1 + 1e-13)  # the same value after a round trip
    assert len(calls) == n and explorer.latencies["eta"] == []
    explorer.controls["eta"].value = eta * 1.01
    assert len(calls) == n + 1


def test_close_stops_updates():
    explorer, line, _, calls = make_toy()
    n = len(calls)
    explorer.close()
    explorer.controls["a"].value = 2.0
    assert len(calls) == n


def test_constructor_validation():
    fig = W.live(P.figure())
    with pytest.raises(ValueError, match="controls"):
        W.Explorer({}, [fig], lambda v: None)
    with pytest.raises(TypeError, match=r"controls\['a'\]"):
        W.Explorer({"a": ipywidgets.Button()}, [fig], lambda v: None)
    with pytest.raises(TypeError, match="figures"):
        W.Explorer({"a": ipywidgets.IntSlider()}, [], lambda v: None)
    with pytest.raises(TypeError, match="update"):
        W.Explorer({"a": ipywidgets.IntSlider()}, [fig], None)


def test_log_slider_labels_and_values():
    widths = [2**k for k in range(4, 13)]
    slider = W.log_slider("width n", widths, 256)
    assert slider.value == 256 and slider.label == "2⁸ = 256"
    labels = [label for label, _ in slider.options]
    assert labels[0] == "2⁴ = 16" and labels[-1] == "2¹² = 4096"
    assert slider.continuous_update
    slider.index += 1
    assert slider.value == 512
    custom = W.log_slider("L", [1, 2, 3], labels=lambda v: f"L = {v}", continuous_update=False)
    assert custom.options == (("L = 1", 1), ("L = 2", 2), ("L = 3", 3))
    assert not custom.continuous_update
    with pytest.raises(ValueError, match="value must be one of"):
        W.log_slider("n", [1, 2], 3)
    with pytest.raises(ValueError, match="values must be distinct"):
        W.log_slider("n", [1, 1])
    with pytest.raises(ValueError, match="labels must have"):
        W.log_slider("n", [1, 2], labels=["a"])


def test_float_log_slider_range_and_validation():
    slider = W.float_log_slider("η", -3, 0, 0.01)
    assert slider.base == 10 and (slider.min, slider.max) == (-3, 0)
    assert slider.value == pytest.approx(0.01, rel=1e-12)
    snapped = W.float_log_slider("η", -3, 0, 0.05, step=0.05)  # log10(0.05) = -1.30103
    assert snapped.value == pytest.approx(10**-1.3, rel=1e-12)
    with pytest.raises(ValueError, match="min_exp must be < max_exp"):
        W.float_log_slider("η", 0, -3, 0.1)
    with pytest.raises(ValueError, match="value must be in"):
        W.float_log_slider("η", -3, 0, 5.0)
    with pytest.raises(TypeError, match="min_exp"):
        W.float_log_slider("η", "a", 0, 0.1)
    # 10**400 overflows a float: a clear ValueError naming the argument, not OverflowError
    with pytest.raises(ValueError, match="max_exp must keep base"):
        W.float_log_slider("a", 0, 400, 1.0)
    with pytest.raises(ValueError, match="min_exp must keep base"):
        W.float_log_slider("a", -400, 0, 1.0)
    wide = W.float_log_slider("a", -300, 300, 1.0, step=1.0)
    assert wide.value == 1.0 and wide.max == 300


def test_format_number():
    assert W.format_number(1024) == "2¹⁰ = 1024"
    assert W.format_number(3) == "3" and W.format_number(2) == "2"
    assert W.format_number(0.125) == "0.125"
    assert W.format_number(1e-4) == "0.0001" and W.format_number(3e-7) == "3×10⁻⁷"
    assert W.format_number("relu") == "relu"


def test_ensure_finite():
    a = np.array([1.0, 2.0])
    assert W.ensure_finite("loss", a) is a
    with pytest.raises(DivergenceError, match="loss"):
        W.ensure_finite("loss", np.array([1.0, np.nan]))
    assert issubclass(DivergenceError, ArithmeticError)


def test_browser_trace_defaults_with_typed_arrays_do_not_raise():
    # After an update plotly.js reports trace defaults; numpy data comes back as a typed-array
    # dict. Unguarded, plotly's BaseFigureWidget raises "truth value of an array is ambiguous".
    fig = W.live(P.figure())
    fig.add_scatter(x=np.linspace(0.0, 1.0, 5), y=np.arange(5.0))
    with fig.batch_update():
        fig.data[0].y = np.arange(5.0) ** 2
    typed = {"dtype": "f8", "bdata": "AAAAAAAAAAA=", "shape": "1"}
    fig._js2py_traceDeltas = {
        "trace_deltas": [{"uid": fig.data[0].uid, "x": typed}],
        "trace_edit_id": fig._last_trace_edit_id,
    }
    np.testing.assert_allclose(fig.data[0].y, np.arange(5.0) ** 2)
    np.testing.assert_allclose(fig.data[0].x, np.linspace(0.0, 1.0, 5))


def test_action_button_runs_in_chunks_caches_and_reports_divergence():
    # A slow "training" behind a button: gradient descent on one eigen-direction, run in chunks
    # of 5 steps from the last state; the chunked trajectory must equal |1 − ηλ|ᵗ exactly.
    fig = W.live(P.plot_lines(np.arange(20), {"network": np.ones(20)}))
    cache = {}

    def update(v):
        fig.data[0].visible = v["eta"] in cache
        if v["eta"] in cache:
            fig.data[0].y = cache[v["eta"]]

    def run(v, progress):
        r, parts = 1.0, []
        for k in range(4):
            chunk = r * np.abs(1.0 - v["eta"] * LAMBDA_MAX) ** np.arange(5)
            r = chunk[-1] * abs(1.0 - v["eta"] * LAMBDA_MAX)
            parts.append(chunk)
            progress(k + 1, 4)
        if r > 1.0:
            raise DivergenceError(f"training diverges: η = {v['eta']} > 2/λ_max = {2 / LAMBDA_MAX}")
        cache[v["eta"]] = np.concatenate(parts)

    eta = ipywidgets.FloatSlider(value=0.1, min=0.05, max=1.0, step=0.05)
    ex = W.Explorer({"eta": eta}, [fig], update)
    seen = []
    act = W.Action(ex, "Train", run, enabled=lambda v: v["eta"] not in cache,
                   note=lambda v: "cached" if v["eta"] in cache else f"η = {v['eta']}: press Train")
    act.progress.observe(lambda c: seen.append(c["new"]), names="value")
    assert act.widget in ex.widget.children and ex.widget.children[-1] is ex.status
    assert not act.button.disabled and "press Train" in act.label.value
    assert fig.data[0].visible is False

    act.button.click()
    np.testing.assert_allclose(fig.data[0].y, gd_residual(0.1), rtol=1e-12)
    assert seen[-4:] == [1, 2, 3, 4] and act.progress.max == 4
    assert act.button.disabled and "cached" in act.label.value and act.runs == 1
    act.press()  # nothing left to compute: no second run
    assert act.runs == 1

    ex.set("eta", 0.25)  # not cached: the button comes back
    assert not act.button.disabled and fig.data[0].visible is False
    ex.set("eta", 0.1)  # cached: instant, no run
    assert act.button.disabled and act.runs == 1 and fig.data[0].visible is not False

    ex.set("eta", 0.6)  # 0.6 > 2/λ_max = 0.5: the run raises, the figure shows the message
    act.press()
    assert ex.message is not None and "diverges" in ex.message
    assert 0.6 not in cache and not act.button.disabled
    assert any("diverges" in a.text for a in fig.layout.annotations)

    with pytest.raises(TypeError, match="explorer"):
        W.Action(fig, "Train", run, enabled=lambda v: True)
    with pytest.raises(TypeError, match="enabled"):
        W.Action(ex, "Train", run, enabled=True)
    with pytest.raises(ValueError, match="total"):
        act._report(3, 2)


def test_action_callbacks_share_the_explorer_error_path():
    # enabled/note raising (a NaN rate reaching a cost estimate, say) disable the button and
    # show the message; run raising an arithmetic error shows it over the figure; nothing
    # escapes the widget callbacks.
    fig = W.live(P.plot_lines([0.0, 1.0], {"network": [0.0, 0.0]}))
    cache = {}

    def update(v):
        fig.data[0].y = cache.get(v["rate"], [0.0, 0.0])

    def seconds(v):
        if not np.isfinite(v["rate"]):
            raise ValueError(f"rate must be finite, got {v['rate']}")
        return 1.0 / v["rate"]  # ZeroDivisionError at rate 0

    def run(v, progress):
        progress(1, 1)
        cache[v["rate"]] = [0.0, seconds(v)]

    rate = ipywidgets.FloatText(value=1.0)
    ex = W.Explorer({"rate": rate}, [fig], update)
    act = W.Action(ex, "Train this network", run, enabled=lambda v: seconds(v) > 0,
                   note=lambda v: f"≈ {seconds(v):.0f} s")
    assert not act.button.disabled and "≈ 1 s" in act.label.value
    rate.value = float("nan")
    assert act.button.disabled and "rate must be finite" in act.label.value
    assert "computing" not in ex.status.value
    rate.value = 0.0
    assert act.button.disabled and "division by zero" in act.label.value
    act.press()  # disabled: nothing runs
    assert act.runs == 0
    rate.value = 2.0
    act.button.click()
    assert act.runs == 1 and list(fig.data[0].y) == [0.0, 0.5] and ex.message is None
    assert act.progress.layout.visibility == "hidden" and act.seconds is not None

    def failing_run(v, progress):
        raise OverflowError("(34, 'Numerical result out of range')")

    act.run = failing_run
    rate.value = 4.0
    act.press()
    assert ex.message == "(34, 'Numerical result out of range')" == W.message_text(fig)
    assert list(fig.data[0].y) == [0.0, 0.0] and not act.button.disabled
    assert "computing" not in ex.status.value

    def buggy_note(v):
        raise KeyError("a bug in note")

    act.note = buggy_note
    with pytest.raises(KeyError):
        rate.value = 2.0
    assert "unexpected error" in ex.status.value and not ex.busy


def test_message_wraps_to_the_figure_width_and_round_trips():
    long = ("training diverges: η = 0.95 × 2/λ_max(Θ) is stable for the kernel, but this "
            "width's own bound 2/λ_max(K) = 0.0123 is lower, so the network blows up")
    for width in (460, 700):
        fig = W.show_message(P.figure(width=width), long)
        note = [a for a in fig.layout.annotations if a.name == MESSAGE_NAME][0]
        lines = note.text.split("<br>")
        assert len(lines) > 1
        assert max(map(len, lines)) * 0.56 * note.font.size <= width - 100  # fits, with margin
        assert W.message_text(fig) == long
    assert W.message_text(W.show_message(P.figure(), "a < b & c")) == "a < b & c"


def test_show_and_clear_message_keep_other_annotations():
    fig = P.figure()
    fig.add_annotation(text="λ_max", x=1, y=1)
    W.show_message(fig, "training diverges: η = 0.9 > 2/λ_max = 0.52")
    W.show_message(fig, "training diverges: η = 1.2 > 2/λ_max = 0.52")  # replaces, not adds
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["λ_max", "training diverges: η = 1.2 > 2/λ_max = 0.52"]
    assert W.message_text(fig) == texts[1]
    assert len(fig.layout.shapes) == 1  # the veil over the plot
    W.clear_message(fig)
    assert [a.text for a in fig.layout.annotations] == ["λ_max"]
    assert len(fig.layout.shapes) == 0 and W.message_text(fig) is None
    with pytest.raises(ValueError, match="text"):
        W.show_message(fig, "")


def test_messages_inside_batch_update_of_a_widget():
    fig = W.live(P.plot_lines([0, 1], {"a": [1.0, 2.0]}))
    assert isinstance(fig, go.FigureWidget)
    with fig.batch_update():
        W.show_message(fig, "first")
        W.show_message(fig, "second")
        assert W.message_text(fig) == "second"
    assert [a.text for a in fig.layout.annotations] == ["second"]
    with fig.batch_update():
        W.clear_message(fig)
        assert W.message_text(fig) is None
    assert len(fig.layout.annotations) == 0


def test_live_copies_the_figure():
    static = P.plot_lines([0, 1], {"a": [1.0, 2.0]}, title="t")
    widget = W.live(static)
    as_dict = widget.to_dict()
    for trace in as_dict["data"]:
        trace.pop("uid")  # a widget names its traces for the browser
    assert as_dict == static.to_dict()
    widget.data[0].y = [5.0, 6.0]
    assert static.data[0].y.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="fig"):
        W.live({"data": []})


# --- what reaches the browser: the guards around plotly's FigureWidget ---------------------

def _sent_updates(fig):
    """Every Plotly.update message the widget sends to the browser, as plain dicts."""
    sent = []
    fig.observe(lambda change: change["new"] and sent.append(change["new"]), names="_py2js_update")
    return sent


def test_an_update_touching_some_traces_sends_no_placeholder():
    # The root cause of "x = null" in the page: y of traces 0 and 1 and x of trace 2 in one
    # batch used to send x = [Undefined, Undefined, new x]; plotly's widget model in the page
    # writes the placeholder into its copy of the figure and a later view draws no x.
    from plotly.basedatatypes import Undefined

    fig = W.live(P.plot_lines([1.0, 2.0, 3.0], {"ridge": [0.0, 0.0, 0.0], "gd": [0.0, 0.0, 0.0]}))
    fig.add_scatter(x=[1.0], y=[1.0], name="selected")
    sent = _sent_updates(fig)
    with fig.batch_update():
        fig.data[0].y = [1.0, 2.0, 3.0]
        fig.data[1].y = [3.0, 2.0, 1.0]
        fig.data[2].update(x=[2.0], y=[2.0], name="selected: n = 2")
    (message,) = sent
    style = message["style_data"]
    assert message["style_traces"] == [0, 1, 2]
    for key, values in style.items():
        assert not any(v is Undefined for v in values), key
    np.testing.assert_array_equal(style["x"][0], [1.0, 2.0, 3.0])  # the current x, sent again
    assert style["name"] == ["ridge", "gd", "selected: n = 2"]


def test_only_traces_whose_data_changed_are_sent():
    # plotly compares every assignment with the current value; the explorer relies on it
    fig = W.live(P.plot_lines(X, {"network": X, "analytic": X, "data": X}))
    sent = _sent_updates(fig)

    def update(v):  # rewrites every trace on every move, as notebooks do
        fig.data[0].y = X
        fig.data[1].y = v["a"] * X
        fig.data[2].y = X

    ex = W.Explorer({"a": ipywidgets.FloatSlider(value=1.0, max=3.0)}, [fig], update)
    sent.clear()
    ex.set("a", 2.0)
    (message,) = sent
    assert message["style_traces"] == [1] and list(message["style_data"]) == ["y"]
    np.testing.assert_allclose(message["style_data"]["y"][0], 2.0 * X)
    sent.clear()
    ex.set("a", 2.0)  # nothing changed: nothing sent
    assert sent == []


def test_plotly_still_writes_update_placeholders_into_its_widget_model():
    # Fails once plotly's widget model in the page stops copying "_undefined_" into the figure
    # (then fill_placeholders in ntk_helpers/_plotly_fix.py can go).
    import re
    from pathlib import Path

    import plotly

    bundle = (Path(plotly.__file__).parent / "package_data" / "widgetbundle.js").read_text()
    # FigureModel.do_update: the raw message (placeholders and all) applied to _widget_data by a
    # setter that skips only null and undefined
    model_update = re.search(
        r'do_update\(\)\{var (\w+)=this\.model\.get\("_py2js_update"\);if\(\1!==null\)\{var '
        r'(\w+)=\1\.style_data,\w+=\1\.layout_data,\w+=this\._normalize_trace_indexes\(\1\.'
        r'style_traces\);(\w+)\(this\.model\.get\("_widget_data"\)', bundle)
    assert model_update, "plotly's widget model changed: check whether the placeholder fill is needed"
    setter = re.search(r"function " + re.escape(model_update.group(3)) + r"\([^)]*\)\{.{0,300}?"
                       r"(\w+)===null\?\w+\.unset\(\w+,\w+\):\1!==void 0&&\w+\.set\(", bundle)
    assert setter, "plotly's widget model changed: check whether the placeholder fill is needed"
    assert '"_undefined_"' in bundle or "'_undefined_'" in bundle


def test_plotly_still_tests_the_truth_value_of_numpy_arrays():
    # Fails once plotly fixes `if not input_val:` in BaseFigureWidget._remove_overlapping_props
    # (then the guard in ntk_helpers/_plotly_fix.py can go).
    from ntk_helpers import _plotly_fix

    original = _plotly_fix.original("_remove_overlapping_props")
    typed = {"dtype": "f8", "bdata": "AAAAAAAAAAA=", "shape": "3"}
    with pytest.raises(ValueError, match="truth value of an array"):
        original({"x": np.arange(3.0)}, {"x": typed})


def test_guards_are_installed_only_for_the_plotly_releases_they_were_written_for(monkeypatch):
    from plotly.basewidget import BaseFigureWidget

    from ntk_helpers import _plotly_fix

    low, high = _plotly_fix.GUARDED_VERSIONS
    assert low <= _plotly_fix.plotly_version() <= high, (
        "plotly was upgraded: run the tests above and tests/test_browser.py, then update "
        "GUARDED_VERSIONS (or drop the guards plotly fixed)")
    assert _plotly_fix.apply()
    patched = BaseFigureWidget._send_update_msg
    monkeypatch.setattr(_plotly_fix, "_originals", {})
    monkeypatch.setattr(_plotly_fix, "plotly_version", lambda: (high[0] + 1, 0))
    with pytest.warns(UserWarning, match="not installed"):
        assert _plotly_fix.apply() is False
    assert BaseFigureWidget._send_update_msg is patched  # nothing re-installed
