"""plot.lua, the SVG plotting module cells get: loaded into a whitelist environment.

`tests.lua_env.Sandbox` rebuilds just enough of it (a whitelist env,
`load(src, "=plot", "t", env)`) to test the module on its own. Figures are checked through the
SVG they produce, parsed as XML.
"""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest

from tests.lua_env import LUA_DIR, WHITELIST_FUNCTIONS, WHITELIST_LIBRARIES, Sandbox, lua54

SVG = "{http://www.w3.org/2000/svg}"


class PlotSandbox(Sandbox):
    """The whitelist env with plot loaded, and the SVG a cell's figure renders to."""

    def svg(self, code: str) -> str:
        """The SVG text of the figure a cell returns, through its __svg metamethod."""
        text: str = self.lua.execute(
            "local fig = ... return getmetatable(fig).__svg(fig)", self.run(code)
        )
        return text

    def tree(self, code: str) -> ET.Element:
        return ET.fromstring(self.svg(code))


@pytest.fixture
def lua() -> PlotSandbox:
    return PlotSandbox("plot")


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in g.get("class", "").split()]


def texts(root: ET.Element, cls: str) -> list[str]:
    return [t.text or "" for g in groups(root, cls) for t in g.iter(f"{SVG}text")]


def path_points(path: ET.Element) -> list[list[tuple[float, float]]]:
    """The runs of a path's d attribute: each M starts a new run."""
    runs: list[list[tuple[float, float]]] = []
    for cmd, x, y in re.findall(r"([ML])(-?[\d.]+),(-?[\d.]+)", path.get("d", "")):
        if cmd == "M":
            runs.append([])
        runs[-1].append((float(x), float(y)))
    return runs


SUPERSCRIPTS = "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
SUPERSCRIPT_DIGITS = str.maketrans(SUPERSCRIPTS, "-0123456789")
SI_SUFFIXES = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
MINUS, TIMES = "\u2212", "\u00d7"
# A clean tick label: a true minus sign, digits, then an SI suffix or "x10" and a power.
TICK_LABEL = re.compile(rf"({MINUS}?\d+(?:\.\d+)?)(?:([kMGT])|{TIMES}10([{SUPERSCRIPTS}]+))?")


def label_value(text: str) -> float:
    match = TICK_LABEL.fullmatch(text)
    assert match, f"not a clean tick label: {text!r}"
    value = float(match[1].replace(MINUS, "-"))
    if match[2]:
        value *= SI_SUFFIXES[match[2]]
    if match[3]:
        value *= 10.0 ** int(match[3].translate(SUPERSCRIPT_DIGITS))
    return value


def tick_values(root: ET.Element, axis: str) -> list[float]:
    """Numeric tick labels of the y axis (text-anchor end) or the x axis (middle)."""
    anchor = "end" if axis == "y" else "middle"
    return [
        label_value(t.text or "")
        for g in groups(root, "ticks")
        for t in g.iter(f"{SVG}text")
        if t.get("text-anchor") == anchor
    ]


# --- the SVG document ------------------------------------------------------------------------


def test_svg_is_a_valid_xml_document_with_namespace_size_and_viewbox(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({1, 4, 9}, {width = 500, height = 300})")
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 500 300"
    assert (root.get("width"), root.get("height")) == ("500", "300")


def test_default_size_is_640_by_400(lua: PlotSandbox) -> None:
    assert lua.tree("return plot.line({1, 2})").get("viewBox") == "0 0 640 400"


def test_figure_has_svg_method_and_metamethods(lua: PlotSandbox) -> None:
    same = lua.run("""
        local f = plot.scatter({1, 2}, {3, 4})
        local mt = getmetatable(f)
        return f:svg() == mt.__svg(f), type(mt.__tostring), tostring(f)
    """)
    assert same == (True, "function", "<plot.scatter: 1 series, 2 points>")


@pytest.mark.parametrize(
    ("code", "summary"),
    [
        ("plot.line({{1, 2, 3}, {4, 5, 6}})", "<plot.line: 2 series, 6 points>"),
        ("plot.line({7})", "<plot.line: 1 series, 1 point>"),
        ("plot.bar({'a', 'b'}, {1, 2})", "<plot.bar: 1 series, 2 bars>"),
        ("plot.hist({1, 2, 2, 3}, {bins = 3})", "<plot.hist: 1 series, 4 values, 3 bins>"),
        (
            "plot.figure():line({1, 2}):scatter({3, 4})",
            "<plot.figure: line + scatter, 2 series, 4 points>",
        ),
        ("plot.figure({title = 'x'})", "<plot.figure: empty>"),
    ],
)
def test_tostring_summarises_the_figure(lua: PlotSandbox, code: str, summary: str) -> None:
    assert lua.run(f"return tostring({code})") == summary


# --- series ----------------------------------------------------------------------------------


def test_line_draws_one_path_per_series_through_every_point(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({{1, 2, 3, 4}, {4, 3, 2, 1}}, {labels = {'up', 'down'}})")
    lines = groups(root, "line")
    assert len(lines) == 2
    for g in lines:
        runs = path_points(g.find(f"{SVG}path"))  # type: ignore[arg-type]
        assert [len(r) for r in runs] == [4]
    assert lines[0].get("stroke") != lines[1].get("stroke")


def test_line_maps_larger_values_higher_on_the_page(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({1, 2, 3})")
    (run,) = path_points(groups(root, "line")[0].find(f"{SVG}path"))  # type: ignore[arg-type]
    xs, ys = zip(*run, strict=True)
    assert xs[0] < xs[1] < xs[2]
    assert ys[0] > ys[1] > ys[2]


def test_one_xs_list_is_shared_by_several_ys_series(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({0, 10, 20}, {{1, 2, 3}, {3, 2, 1}})")
    runs = [path_points(g.find(f"{SVG}path"))[0] for g in groups(root, "line")]  # type: ignore[arg-type]
    assert [x for x, _ in runs[0]] == [x for x, _ in runs[1]]


def test_scatter_draws_one_circle_per_point(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.scatter({1, 2, 3, 4, 5}, {5, 3, 4, 1, 2})")
    (g,) = groups(root, "scatter")
    assert len(g.findall(f"{SVG}circle")) == 5


def test_scatter_accepts_one_xs_list_per_series(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.scatter({{1, 2}, {5, 6, 7}}, {{1, 2}, {3, 4, 5}})")
    assert [len(g.findall(f"{SVG}circle")) for g in groups(root, "scatter")] == [2, 3]


def test_bar_draws_one_rect_per_value_and_labels_the_categories(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.bar({'red', 'green', 'blue'}, {3, 5, 2})")
    (g,) = groups(root, "bar")
    assert len(g.findall(f"{SVG}rect")) == 3
    assert texts(root, "ticks")[-3:] == ["red", "green", "blue"]


def test_bar_without_labels_numbers_the_categories(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.bar({3, 5, 2})")
    assert texts(root, "ticks")[-3:] == ["1", "2", "3"]


def test_several_bar_series_are_grouped_side_by_side(lua: PlotSandbox) -> None:
    root = lua.tree(
        "return plot.bar({'a', 'b'}, {{1, 2}, {3, 4}, {5, 6}}, {labels = {'x', 'y', 'z'}})"
    )
    series = groups(root, "bar")
    assert [len(g.findall(f"{SVG}rect")) for g in series] == [2, 2, 2]
    first_bars = [float(g.findall(f"{SVG}rect")[0].get("x", "0")) for g in series]
    assert first_bars == sorted(first_bars)


def test_bars_start_at_zero(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.bar({5, 10, 20})")
    rects = groups(root, "bar")[0].findall(f"{SVG}rect")
    bottoms = {round(float(r.get("y", "0")) + float(r.get("height", "0")), 1) for r in rects}
    assert len(bottoms) == 1
    assert tick_values(root, "y")[0] == 0


def test_negative_bars_hang_from_the_zero_line(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.bar({4, -2})")
    up, down = groups(root, "bar")[0].findall(f"{SVG}rect")
    zero = float(up.get("y", "0")) + float(up.get("height", "0"))
    assert float(down.get("y", "0")) == pytest.approx(zero)
    assert root.find(f".//{SVG}line[@class='zero']") is not None


def test_hist_counts_values_into_the_requested_bins(lua: PlotSandbox) -> None:
    root = lua.tree("local v = {} for i = 1, 100 do v[i] = i end return plot.hist(v, {bins = 10})")
    rects = groups(root, "hist")[0].findall(f"{SVG}rect")
    assert len(rects) == 10
    heights = {round(float(r.get("height", "0")), 1) for r in rects}
    assert len(heights) == 1  # ten values in every bin


def test_hist_uses_sturges_rule_by_default(lua: PlotSandbox) -> None:
    assert lua.run(
        "local v = {} for i = 1, 100 do v[i] = i % 17 end return tostring(plot.hist(v))"
    ) == ("<plot.hist: 1 series, 100 values, 8 bins>")


def test_hist_accepts_explicit_bin_edges_and_ignores_values_outside(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.hist({-5, 0.5, 1.5, 1.6, 2.5, 99}, {bins = {0, 1, 2, 3}})")
    rects = groups(root, "hist")[0].findall(f"{SVG}rect")
    heights = [float(r.get("height", "0")) for r in rects]
    assert len(rects) == 3
    assert heights[1] == pytest.approx(2 * heights[0])


def test_hist_of_several_series_shares_bins_and_overlaps(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.hist({{1, 2, 3}, {2, 3, 4}}, {bins = 3, labels = {'a', 'b'}})")
    series = groups(root, "hist")
    assert len(series) == 2
    assert all(g.get("fill-opacity") for g in series)


def test_hist_labels_its_y_axis_count_or_density(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.hist({1, 2, 2, 3})")
    assert root.find(f".//{SVG}text[@class='ylabel']").text == "Count"  # type: ignore[union-attr]
    root = lua.tree("return plot.hist({1, 2, 2, 3}, {density = true})")
    assert root.find(f".//{SVG}text[@class='ylabel']").text == "Density"  # type: ignore[union-attr]


def test_figure_builds_up_several_kinds_on_one_axes(lua: PlotSandbox) -> None:
    root = lua.tree("""
        local f = plot.figure{title = "both", xlabel = "x"}
        f:line({1, 2, 3}, {label = "model"})
        f:scatter({1, 2, 3}, {1.1, 1.9, 3.2}, {label = "data"})
        return f
    """)
    assert len(groups(root, "line")) == 1
    assert len(groups(root, "scatter")) == 1
    assert texts(root, "legend") == ["model", "data"]


def test_figure_options_can_be_set_as_fields(lua: PlotSandbox) -> None:
    root = lua.tree("local f = plot.line({1, 2}) f.title = 'Set later' f.ylabel = 'y' return f")
    assert root.find(f".//{SVG}text[@class='title']").text == "Set later"  # type: ignore[union-attr]


def test_series_take_colours_from_the_palette_in_order(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({{1, 2}, {2, 1}})")
    palette = lua.run("return plot.palette[1], plot.palette[2]")
    assert tuple(g.get("stroke") for g in groups(root, "line")) == palette


def test_color_option_sets_one_colour_or_one_per_series(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({{1, 2}, {2, 1}}, {color = {'red', '#123456'}})")
    assert [g.get("stroke") for g in groups(root, "line")] == ["red", "#123456"]
    root = lua.tree("return plot.scatter({1, 2}, {color = 'rgb(1, 2, 3)'})")
    assert groups(root, "scatter")[0].get("fill") == "rgb(1, 2, 3)"


# --- legend, text and escaping ---------------------------------------------------------------


def test_legend_lists_the_labels_of_the_series(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({{1, 2}, {2, 1}}, {labels = {'alpha', 'beta'}})")
    assert texts(root, "legend") == ["alpha", "beta"]


def test_no_legend_without_labels_or_when_turned_off(lua: PlotSandbox) -> None:
    assert not groups(lua.tree("return plot.line({{1, 2}, {2, 1}})"), "legend")
    root = lua.tree("return plot.line({1, 2}, {label = 'a', legend = false})")
    assert not groups(root, "legend")


@pytest.mark.parametrize("place", ["outside", "upper left", "lower right"])
def test_legend_can_be_placed(lua: PlotSandbox, place: str) -> None:
    root = lua.tree(f"return plot.line({{1, 2}}, {{label = 'a', legend = '{place}'}})")
    assert texts(root, "legend") == ["a"]


def test_user_text_is_xml_escaped(lua: PlotSandbox) -> None:
    svg = lua.svg(
        """return plot.bar({"<b>", "x&y"}, {1, 2}, {title = 'a < b & "c"', """
        """xlabel = "it's", ylabel = "<y>", label = "</svg>"})"""
    )
    root = ET.fromstring(svg)
    assert root.find(f".//{SVG}text[@class='title']").text == 'a < b & "c"'  # type: ignore[union-attr]
    assert root.find(f".//{SVG}title").text == 'a < b & "c"'  # type: ignore[union-attr]
    assert root.find(f".//{SVG}text[@class='xlabel']").text == "it's"  # type: ignore[union-attr]
    assert texts(root, "legend") == ["</svg>"]
    assert "<b>" not in svg
    assert "a &lt; b &amp; &quot;c&quot;" in svg


def test_invalid_utf8_and_control_characters_in_text_still_give_valid_xml(lua: PlotSandbox) -> None:
    root = lua.tree(r'return plot.line({1, 2}, {title = "bad \xff\xfe byte\0\1 and\nnewline"})')
    title = root.find(f".//{SVG}text[@class='title']").text  # type: ignore[union-attr]
    assert title == "bad \ufffd\ufffd byte and newline"


def test_long_text_is_shortened(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({1, 2}, {title = string.rep('word ', 100)})")
    title = root.find(f".//{SVG}text[@class='title']").text or ""  # type: ignore[union-attr]
    assert title.endswith("…")
    assert len(title) < 150


def test_rejects_colours_that_are_not_plain_colour_values(lua: PlotSandbox) -> None:
    message = lua.error("""return plot.line({1, 2}, {color = 'red" onload="x'})""")
    assert "plot.line: color must be a colour like" in message


# --- axes and ticks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    ["{0.1, 0.2, 0.3}", "{1, 1000}", "{-0.003, 0.007}", "{12345, 12346}", "{0, 1e-7}", "{3, 97}"],
)
def test_ticks_are_nice_numbers_without_float_noise(lua: PlotSandbox, data: str) -> None:
    root = lua.tree(f"return plot.line({data})")
    labels = texts(root, "ticks")
    assert not any(re.search(r"0000|9999", t) for t in labels)
    ys = tick_values(root, "y")  # also checks every label is clean
    steps = [b - a for a, b in itertools.pairwise(ys)]
    assert len(steps) >= 1
    assert max(steps) == pytest.approx(min(steps))
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]) + 1e-9)
    assert round(mantissa, 6) in (1, 2, 5)


def test_negative_tick_labels_use_a_true_minus_sign(lua: PlotSandbox) -> None:
    labels = texts(lua.tree("return plot.line({-10, 10})"), "ticks")
    assert "\u22125" in labels or "\u221210" in labels
    assert not any(t.startswith("-") for t in labels)


def test_large_tick_labels_use_si_suffixes(lua: PlotSandbox) -> None:
    labels = texts(lua.tree("return plot.line({0, 3e6})"), "ticks")
    assert "1M" in labels or "1.0M" in labels


def test_ticks_of_default_xs_are_whole_numbers(lua: PlotSandbox) -> None:
    assert tick_values(lua.tree("return plot.line({5, 6, 7})"), "x") == [1, 2, 3]


def test_xlim_and_ylim_set_the_visible_range(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({1, 50, 100}, {ylim = {0, 10}, xlim = {0, 4}})")
    assert tick_values(root, "y")[0] == 0
    assert tick_values(root, "y")[-1] == 10
    data = root.find(f"{SVG}svg")  # the nested <svg> clips data outside the limits
    assert data is not None
    assert data.get("overflow") == "hidden"


def test_long_category_labels_are_rotated_and_cut(lua: PlotSandbox) -> None:
    root = lua.tree(
        "local l, v = {}, {} for i = 1, 30 do l[i] = 'a rather long category ' .. i v[i] = i end"
        " return plot.bar(l, v)"
    )
    ticks = [t for g in groups(root, "ticks") for t in g.iter(f"{SVG}text") if t.get("transform")]
    assert ticks
    assert all((t.text or "").endswith("…") for t in ticks)


# --- edge cases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["plot.line({})", "plot.scatter({}, {})", "plot.bar({})", "plot.hist({})", "plot.line({{}})"],
)
def test_empty_data_is_a_clear_error(lua: PlotSandbox, code: str) -> None:
    assert "is empty" in lua.error(f"return {code}")


def test_a_single_point_is_drawn_as_a_marker(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({5})")
    (g,) = groups(root, "line")
    assert len(list(g.iter(f"{SVG}circle"))) == 1


def test_all_equal_values_still_get_a_readable_axis(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.scatter({3, 3, 3}, {7, 7, 7})")
    ys = tick_values(root, "y")
    assert len(ys) >= 2
    assert ys[0] < 7 < ys[-1]
    assert len(groups(root, "scatter")[0].findall(f"{SVG}circle")) == 3


def test_all_zero_bars_have_an_axis_starting_at_zero(lua: PlotSandbox) -> None:
    ys = tick_values(lua.tree("return plot.bar({0, 0})"), "y")
    assert ys[0] == 0
    assert ys[-1] > 0


@pytest.mark.parametrize(
    "code",
    [
        "plot.line({5e-324, 1e-323})",
        "plot.line({1e9, 1e9 + 1e-7})",
        "plot.line({math.mininteger, math.maxinteger})",
        "plot.hist({9e181, 9e181})",
        "plot.scatter({-4e83, 4e86}, {1, 2}, {width = 160, height = 160})",
    ],
)
def test_extreme_ranges_still_render(lua: PlotSandbox, code: str) -> None:
    assert lua.tree(f"return {code}").tag == f"{SVG}svg"


def test_values_spanning_more_than_the_float_range_are_a_clear_error(lua: PlotSandbox) -> None:
    assert "values are too large to plot" in lua.error("return plot.line({-1e308, 1e308}):svg()")
    assert "too large to count in bins" in lua.error("return plot.hist({-1e308, 1e308})")


def test_nan_and_infinite_values_are_skipped_and_break_the_line(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.line({1, 2, 0/0, 4, 5, math.huge, 7})")
    runs = path_points(groups(root, "line")[0].find(f"{SVG}path"))  # type: ignore[arg-type]
    assert [len(r) for r in runs] == [2, 2, 1]
    assert len(list(groups(root, "line")[0].iter(f"{SVG}circle"))) == 1  # the lone point


def test_scatter_skips_nan_points(lua: PlotSandbox) -> None:
    root = lua.tree("return plot.scatter({1, 0/0, 3}, {1, 2, -math.huge})")
    assert len(groups(root, "scatter")[0].findall(f"{SVG}circle")) == 1


def test_only_nan_values_is_a_clear_error(lua: PlotSandbox) -> None:
    assert "no finite values to plot" in lua.error("return plot.line({0/0, 0/0}):svg()")
    assert "no finite values to count" in lua.error("return plot.hist({0/0})")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("plot.line({1, 'two', 3})", "plot.line: ys[2] is a string, expected a number"),
        ("plot.line({1, 2}, {{1, 2}, {1, nil, 3}})", "plot.line: ys[2][2] is nil"),
        ("plot.line({1, 2, 3}, {1, 2})", "xs has 3 values but ys has 2"),
        ("plot.scatter({{1}, {2}}, {{1}})", "xs has 2 lists but ys has 1 series"),
        ("plot.bar({'a', 'b'}, {1, 2, 3})", "values has 3 values for 2 categories"),
        ("plot.bar({'a', {}}, {1, 2})", "labels[2] must be a string, got a table"),
        ("plot.hist({1, 2}, {bins = 0})", "bins must be a whole number from 1 to 1000"),
        ("plot.hist({1, 2}, {bins = {3, 1}})", "bins must list finite edges in increasing order"),
        ("plot.line({1, 2}, {tittle = 'x'})", 'unknown option "tittle"'),
        ("plot.line({1, 2}, {width = 10})", "width must be a number of pixels from 160 to 4000"),
        ("plot.line({1, 2}, {xlim = {2, 1}})", "xlim must be {lo, hi} with finite numbers lo < hi"),
        ("plot.line({{1}, {2}}, {label = 'a'})", "label is for one series; use labels"),
        ("plot.line({{1}, {2}}, {labels = {'a'}})", "labels must be a list of 2 label(s)"),
        ("plot.line({1, 2}, {legend = 'middle'})", "legend must be true, false"),
        ("plot.line(42)", "ys must be a list of numbers or a list of lists, got a number"),
        ("plot.figure():svg()", "the figure is empty"),
    ],
)
def test_bad_input_is_a_clear_error(lua: PlotSandbox, code: str, message: str) -> None:
    assert message in lua.error(f"return {code}")


def test_errors_are_reported_at_the_line_of_the_cell_that_called(lua: PlotSandbox) -> None:
    message = lua.error("local a = 1\nlocal f = plot.line({})\nreturn f")
    assert message.startswith("cell:2: plot.line: ys is empty")


def test_calling_a_method_with_a_dot_explains_the_colon(lua: PlotSandbox) -> None:
    message = lua.error("local f = plot.figure() f.line({1, 2}) return f")
    assert "call it as fig:line(...), with a colon" in message


def test_data_is_copied_so_later_changes_do_not_break_the_figure(lua: PlotSandbox) -> None:
    root = lua.tree("local ys = {1, 2, 3} local f = plot.line(ys) ys[2] = 'oops' return f")
    assert len(path_points(groups(root, "line")[0].find(f"{SVG}path"))[0]) == 3  # type: ignore[arg-type]


def test_up_to_the_point_cap_renders(lua: PlotSandbox) -> None:
    root = lua.tree(
        "local xs, ys = {}, {} for i = 1, 100000 do xs[i] = i ys[i] = math.sin(i) end"
        " return plot.scatter(xs, ys, {size = 1})"
    )
    assert len(groups(root, "scatter")[0].findall(f"{SVG}circle")) == 100000


def test_more_points_than_the_cap_is_a_clear_error(lua: PlotSandbox) -> None:
    message = lua.error("local ys = {} for i = 1, 100001 do ys[i] = i end return plot.line(ys)")
    assert "too many values (more than 100000)" in message
    message = lua.error(
        "local f = plot.figure() local ys = {} for i = 1, 60000 do ys[i] = i end"
        " f:line(ys) f:scatter(ys) return f"
    )
    assert "too many points (more than 100000 in one figure)" in message


# --- what the module may touch ---------------------------------------------------------------


def test_module_ignores_later_changes_to_globals(lua: PlotSandbox) -> None:
    svg = lua.run("""
        local f = plot.line({1, 2, 3}, {title = "t"})
        string.format, string.gsub, string.find, table.concat, math.floor = nil
        pairs, next, type, tostring, pcall, error, setmetatable, getmetatable = nil
        return f:svg()
    """)
    assert ET.fromstring(svg).tag == f"{SVG}svg"


def test_module_reads_only_whitelisted_globals_and_only_while_loading() -> None:
    lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
    names, nothing_after_load = lua.execute(
        """
        local functions, libraries, source, errors_source = ...
        local allowed, seen = {}, {}
        for _, name in ipairs(functions) do allowed[name] = _G[name] end
        for _, name in ipairs(libraries) do allowed[name] = _G[name] end
        local env = setmetatable({}, {
          __index = function(_, k) seen[#seen + 1] = k return allowed[k] end,
          __newindex = function(_, k) error("module wrote global " .. tostring(k)) end,
        })
        local errors = assert(load(errors_source, "=errors", "t", env))()
        local mod = assert(load(source, "=plot", "t", env))(errors)
        local at_load = #seen
        local f = mod.figure({title = "t", legend = "best"})
        f:line({1, 2, 0/0}, {label = "a"}):scatter({3, 1}):hist({1, 2, 3}):bar({"x", "y"}, {1, 2})
        f:svg()
        tostring(f)
        pcall(mod.line, {})
        return table.concat(seen, " "), at_load == #seen
        """,
        lua.table_from(WHITELIST_FUNCTIONS),
        lua.table_from(WHITELIST_LIBRARIES),
        (LUA_DIR / "plot.lua").read_text(encoding="utf-8"),
        (LUA_DIR / "errors.lua").read_text(encoding="utf-8"),
    )
    assert set(names.split()) <= set(WHITELIST_FUNCTIONS) | set(WHITELIST_LIBRARIES)
    assert nothing_after_load
