"""The showcase samples in Rust, C, JavaScript and Go do what their READMEs promise.

Each sample is built from source once per session with ``wasmbay build``'s code
(``build_project``), loaded by the real Runtime and called through its contract:

* plugins/image_processor_rust (WIT v1): ASCII PGM/PPM operations, max-width config,
  default-ops through get-config, an ``image-processed`` event;
* plugins/word_stats_c (WIT v2): word/line/character counts, top-N words, attributes,
  invalid-input for bad options, no capabilities;
* plugins/markdown_js (WIT v2): a Markdown subset to HTML, ``safe=true`` escaping;
* plugins/json_tool_go (WIT v2): JSON format/minify/validate/get, errors with line and
  column, a not-configured initialize.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmbay.authoring import build_project
from wasmbay.core.errors import InitializeError
from wasmbay.core.events import LogLevel, LogRecord, PluginEvent

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = {
    "rust": ROOT / "plugins" / "image_processor_rust",
    "c": ROOT / "plugins" / "word_stats_c",
    "js": ROOT / "plugins" / "markdown_js",
    "go": ROOT / "plugins" / "json_tool_go",
}

Load = Callable[..., Any]


@pytest.fixture(scope="session")
def language_samples() -> Callable[[str], Path]:
    """``language_samples("rust")`` -> the built component (built once, on first use)."""
    built: dict[str, Path] = {}

    def get(lang: str) -> Path:
        if lang not in built:
            (result,) = build_project(SAMPLES[lang])
            built[lang] = result.path
        return built[lang]

    return get


@pytest.fixture
def records(runtime: Any) -> Iterator[list[Any]]:
    seen: list[Any] = []
    unsubscribe = runtime.bus.subscribe(seen.append, LogRecord, PluginEvent)
    yield seen
    unsubscribe()


def _loader(runtime: Any, path: Path, plugin_id: str) -> Iterator[Load]:
    opened: list[Any] = []

    def load(**kw: Any) -> Any:
        plugin = runtime.load(path, plugin_id=plugin_id, **kw)
        opened.append(plugin)
        return plugin

    yield load
    for plugin in opened:
        plugin.close()


@pytest.fixture
def image(runtime: Any, language_samples: Callable[[str], Path]) -> Iterator[Load]:
    yield from _loader(runtime, language_samples("rust"), "sample-image-processor-rust")


@pytest.fixture
def words(runtime: Any, language_samples: Callable[[str], Path]) -> Iterator[Load]:
    yield from _loader(runtime, language_samples("c"), "sample-word-stats")


@pytest.fixture
def markdown(runtime: Any, language_samples: Callable[[str], Path]) -> Iterator[Load]:
    yield from _loader(runtime, language_samples("js"), "sample-markdown")


@pytest.fixture
def json_tool(runtime: Any, language_samples: Callable[[str], Path]) -> Iterator[Load]:
    yield from _loader(runtime, language_samples("go"), "sample-json-tool")


def plugin_logs(records: list[Any], plugin: Any) -> list[tuple[LogLevel, str]]:
    return [(r.level, r.message) for r in records
            if isinstance(r, LogRecord) and r.plugin_id == plugin.plugin_id
            and r.source == "plugin"]


def plugin_events(records: list[Any], plugin: Any) -> list[tuple[str, str]]:
    return [(e.event_type, e.payload) for e in records
            if isinstance(e, PluginEvent) and e.plugin_id == plugin.plugin_id]


# --- Rust: image processor (WIT v1) -------------------------------------------------------

RGB_2X2 = "P3\n# red green / blue white\n2 2\n255\n255 0 0  0 255 0\n0 0 255  255 255 255\n"
GRAY_4X2 = "P2 4 2 9\n1 2 3 4\n5 6 7 8\n"


def test_image_metadata_is_the_articles_plugin(image: Load) -> None:
    md = image().metadata
    assert (md.name, md.version) == ("image-processor-rust", "1.0.0")
    assert "PGM/PPM" in md.description


def test_image_grayscale_then_invert_uses_bt601_luma(image: Load) -> None:
    result = image().process(RGB_2X2, [("ops", "grayscale,invert")])
    assert result.success, result.error
    # luma(red)=76, luma(green)=150, luma(blue)=29, luma(white)=255; inverted from 255
    assert result.output == "P2\n2 2\n255\n179 105\n226 0\n"


def test_image_geometry_operations_apply_in_order(image: Load) -> None:
    plugin = image()

    def run(ops: str, *extra: tuple[str, str]) -> str:
        result = plugin.process(GRAY_4X2, [("ops", ops), *extra])
        assert result.success, result.error
        return str(result.output)

    assert run("flip-h") == "P2\n4 2\n9\n4 3 2 1\n8 7 6 5\n"
    assert run("flip-v") == "P2\n4 2\n9\n5 6 7 8\n1 2 3 4\n"
    assert run("rotate") == "P2\n2 4\n9\n5 1\n6 2\n7 3\n8 4\n"
    assert run("rotate, flip-h") == "P2\n2 4\n9\n1 5\n2 6\n3 7\n4 8\n"
    # width alone keeps the aspect ratio (4x2 -> 2x1); both set the exact size
    assert run("resize", ("width", "2")) == "P2\n2 1\n9\n1 3\n"
    assert run("resize", ("width", "8"), ("height", "1")) == "P2\n8 1\n9\n1 1 2 2 3 3 4 4\n"


def test_image_without_ops_is_normalised_and_rgb_stays_rgb(image: Load) -> None:
    result = image().process("P3 1 1 15 1 2 3", [])
    assert result.success, result.error
    assert result.output == "P3\n1 1\n15\n1 2 3\n"


def test_image_default_ops_come_from_get_config(image: Load) -> None:
    plugin = image(config={"default-ops": "invert"})
    assert plugin.process(GRAY_4X2, []).output == "P2\n4 2\n9\n8 7 6 5\n4 3 2 1\n"
    # a request's own ops win over the configured default
    assert plugin.process(GRAY_4X2, [("ops", "flip-v")]).output == \
        "P2\n4 2\n9\n5 6 7 8\n1 2 3 4\n"


def test_image_wider_than_max_width_is_scaled_down(image: Load, records: list[Any]) -> None:
    plugin = image(config={"max-width": "2"})
    result = plugin.process(GRAY_4X2, [])
    assert result.success, result.error
    assert result.output == "P2\n2 1\n9\n1 3\n"
    assert (LogLevel.INFO, "4x2 is wider than max-width 2: scaled to 2x1") \
        in plugin_logs(records, plugin)


def test_image_invalid_max_width_fails_initialize(image: Load) -> None:
    with pytest.raises(InitializeError) as info:
        image(config={"max-width": "wide"})
    assert "max-width must be a positive integer" in str(info.value)


@pytest.mark.parametrize(("text", "options", "message"), [
    ("P6 1 1 255 0 0 0", [], "unsupported format 'P6'"),
    ("", [], "empty input"),
    ("P2 2 2 9 1 2 3", [], "image ends before its pixel data"),
    ("P2 1 1 9 10", [], "sample 1 is 10, above maxval 9"),
    ("P2 1 1 9 1 2", [], "more samples than 1x1 P2 expects"),
    ("P2 0 1 9", [], "image size must be positive"),
    ("P2 1 1 9 1", [("ops", "blur")], "unknown operation 'blur'"),
    ("P2 1 1 9 1", [("ops", "resize")], "resize needs a width and/or height option"),
    ("P2 1 1 9 1", [("ops", "resize"), ("width", "-3")], "option width must be an integer"),
])
def test_image_bad_input_is_a_v1_failure(image: Load, text: str,
                                         options: list[tuple[str, str]], message: str) -> None:
    plugin = image()
    result = plugin.process(text, options)
    assert not result.success
    assert result.output == ""
    assert message in (result.error or "")
    assert result.error_kind is None  # v1 has no typed errors
    # the failure was an answer, not a trap: the plugin keeps working
    assert plugin.process("P2 1 1 9 4", [("ops", "invert")]).output == "P2\n1 1\n9\n5\n"


def test_image_logs_and_emits_an_event_when_done(image: Load, records: list[Any]) -> None:
    plugin = image()
    result = plugin.process(RGB_2X2, [("ops", "grayscale,resize"), ("height", "1")])
    assert result.success, result.error
    logs = plugin_logs(records, plugin)
    assert (LogLevel.INFO, "image-processor initialized (max-width=1920)") in logs
    assert (LogLevel.INFO, "processing 2x2 P3 image: [grayscale, resize]") in logs
    assert (LogLevel.DEBUG, "grayscale -> 2x2") in logs
    assert (LogLevel.DEBUG, "resize -> 1x1") in logs
    events = plugin_events(records, plugin)
    assert [t for t, _ in events] == ["image-processed"]
    assert json.loads(events[0][1]) == {"format": "P2", "width": 1, "height": 1,
                                        "ops": "grayscale,resize"}
    # a failed request emits nothing
    assert not plugin.process("P9", []).success
    assert len(plugin_events(records, plugin)) == 1


# --- C: word statistics (WIT v2) ----------------------------------------------------------

TEXT = "The quick brown fox.\nThe lazy dog, the end\n"


def test_words_counts_and_ranks(words: Load) -> None:
    result = words().process(TEXT)
    assert result.success, result.error
    assert result.output == ("words: 9\nlines: 2\ncharacters: 43\nunique words: 7\n"
                             "top 3:\n  1. the (3)\n  2. brown (1)\n  3. dog (1)\n")
    assert dict(result.attributes) == {"words": "9", "lines": "2", "characters": "43",
                                       "unique-words": "7", "top": "the=3,brown=1,dog=1"}


def test_words_top_and_min_length_options(words: Load) -> None:
    plugin = words()
    top1 = plugin.process(TEXT, [("top", "1")])
    assert top1.output.endswith("top 1:\n  1. the (3)\n")
    assert dict(top1.attributes)["top"] == "the=3"
    none = plugin.process(TEXT, [("top", "0")])
    assert "top" not in none.output.split("unique words: 7\n")[1]
    assert dict(none.attributes)["top"] == ""
    long_words = plugin.process(TEXT, [("top", "2"), ("min-length", "5")])
    assert dict(long_words.attributes)["top"] == "brown=1,quick=1"


def test_words_counts_unicode_characters_not_bytes(words: Load) -> None:
    result = words().process("héllo wörld Héllo")
    attrs = dict(result.attributes)
    assert (attrs["words"], attrs["lines"], attrs["characters"]) == ("3", "1", "17")
    assert attrs["top"] == "héllo=2,wörld=1"


def test_words_empty_input(words: Load) -> None:
    result = words().process("")
    assert result.success
    assert result.output == "words: 0\nlines: 0\ncharacters: 0\nunique words: 0\n"


@pytest.mark.parametrize(("options", "message"), [
    ([("top", "many")], "option top must be an integer 0..1000, got 'many'"),
    ([("top", "-1")], "option top must be an integer 0..1000, got '-1'"),
    ([("top", "1001")], "option top must be an integer 0..1000, got '1001'"),
    ([("min-length", "0")], "option min-length must be an integer 1..1000, got '0'"),
    ([("colour", "red")], "unknown option 'colour' (use top, min-length)"),
])
def test_words_bad_options_are_invalid_input(words: Load, options: list[tuple[str, str]],
                                             message: str) -> None:
    plugin = words()
    result = plugin.process(TEXT, options)
    assert not result.success
    assert result.error_kind == "invalid-input"
    assert message in (result.error or "")
    assert plugin.process("a a b", [("top", "1")]).attributes[-1] == ("top", "a=2")


def test_words_declares_no_capabilities_and_is_healthy(words: Load) -> None:
    plugin = words()
    assert (plugin.metadata.name, plugin.metadata.version) == ("word-stats", "1.0.0")
    assert plugin.metadata.capabilities == ()
    assert plugin.health().status == "ok"


def test_words_logs_a_debug_summary(words: Load, records: list[Any]) -> None:
    plugin = words()
    plugin.process(TEXT)
    assert plugin_logs(records, plugin) == [
        (LogLevel.DEBUG, "counted 9 words (7 unique) on 2 lines")]


# --- JavaScript: Markdown (WIT v2) --------------------------------------------------------

DOC = """# Title with *emphasis*

Some **bold**, __strong__, _em_ and `a <b> & c` code;
second line, snake_case_name.

- one
- two `x*y*`
  continued
- ***three***

3. third
4. fourth

```py
print("<hi>")
```
---
### Closing ###
"""

HTML = """<h1>Title with <em>emphasis</em></h1>
<p>Some <strong>bold</strong>, <strong>strong</strong>, <em>em</em> and \
<code>a &lt;b&gt; &amp; c</code> code;
second line, snake_case_name.</p>
<ul>
<li>one</li>
<li>two <code>x*y*</code>
continued</li>
<li><strong><em>three</em></strong></li>
</ul>
<ol start="3">
<li>third</li>
<li>fourth</li>
</ol>
<pre><code class="language-py">print(&quot;&lt;hi&gt;&quot;)
</code></pre>
<hr>
<h3>Closing</h3>
"""


def test_markdown_renders_the_subset(markdown: Load) -> None:
    result = markdown().process(DOC)
    assert result.success, result.error
    assert result.output == HTML
    assert dict(result.attributes) == {"blocks": "7", "safe": "false"}


def test_markdown_metadata_and_health(markdown: Load) -> None:
    plugin = markdown()
    assert (plugin.metadata.name, plugin.metadata.version) == ("markdown", "1.0.0")
    assert plugin.metadata.capabilities == ()
    assert plugin.health().status == "ok"


UNTRUSTED = '<script>alert("x")</script>\n\nHi <b>there</b> & *you*'


def test_markdown_passes_raw_html_by_default(markdown: Load) -> None:
    result = markdown().process(UNTRUSTED)
    assert result.output == ('<script>alert("x")</script>\n'
                             "<p>Hi <b>there</b> &amp; <em>you</em></p>\n")


def test_markdown_safe_escapes_raw_html(markdown: Load) -> None:
    result = markdown().process(UNTRUSTED, [("safe", "true")])
    assert result.success, result.error
    assert result.output == ("<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>\n"
                             "<p>Hi &lt;b&gt;there&lt;/b&gt; &amp; <em>you</em></p>\n")
    assert "<script" not in result.output and "<b>" not in result.output
    assert dict(result.attributes)["safe"] == "true"


def test_markdown_config_sets_the_default_and_the_option_wins(markdown: Load) -> None:
    plugin = markdown(config={"safe": "true"})
    assert plugin.process("<i>x</i>").output == "<p>&lt;i&gt;x&lt;/i&gt;</p>\n"
    assert plugin.process("<i>x</i>", [("safe", "false")]).output == "<p><i>x</i></p>\n"


@pytest.mark.parametrize(("options", "message"), [
    ([("safe", "maybe")], "option safe must be true or false, got 'maybe'"),
    ([("style", "github")], "unknown option 'style' (use safe)"),
])
def test_markdown_bad_options_are_invalid_input(markdown: Load, options: list[tuple[str, str]],
                                                message: str) -> None:
    plugin = markdown()
    result = plugin.process("# x", options)
    assert not result.success
    assert result.error_kind == "invalid-input"
    assert message in (result.error or "")
    assert plugin.process("# x").output == "<h1>x</h1>\n"


def test_markdown_bad_safe_config_is_not_configured(markdown: Load) -> None:
    result = markdown(config={"safe": "yes please"}).process("x")
    assert not result.success
    assert result.error_kind == "not-configured"


def test_markdown_logs_at_debug_level(markdown: Load, records: list[Any]) -> None:
    plugin = markdown()
    plugin.process("# a\n\nb", [("safe", "true")])
    logs = plugin_logs(records, plugin)
    assert (LogLevel.DEBUG, "rendered 2 blocks from 6 characters (safe=true)") in logs
    assert {level for level, _ in logs} == {LogLevel.DEBUG}


# --- Go: JSON tool (WIT v2) ---------------------------------------------------------------

JSON_DOC = '{"items": [{"name": "ü", "price": 2.50}, {"name": "b"}], "ok": true, "none": null}'


def test_json_formats_keeping_key_order_and_numbers(json_tool: Load) -> None:
    result = json_tool().process(JSON_DOC)
    assert result.success, result.error
    assert result.output == ('{\n  "items": [\n    {\n      "name": "ü",\n      "price": 2.50\n'
                             '    },\n    {\n      "name": "b"\n    }\n  ],\n  "ok": true,\n'
                             '  "none": null\n}')
    assert dict(result.attributes) == {"type": "object", "bytes-in": str(len(JSON_DOC.encode())),
                                       "bytes-out": str(len(result.output.encode()))}


def test_json_minify_validate_and_indent(json_tool: Load) -> None:
    plugin = json_tool(config={"indent": "4"})
    assert plugin.process(' [1, {"a": [ ]} ] ', [("op", "minify")]).output == '[1,{"a":[]}]'
    assert plugin.process("[1, 2]").output == "[\n    1,\n    2\n]"
    assert plugin.process("[1, 2]", [("indent", "0")]).output == "[1,2]"
    valid = plugin.process(JSON_DOC, [("op", "validate")])
    assert valid.output == "valid JSON: object with 3 keys"
    assert plugin.process('"x"', [("op", "validate")]).output == "valid JSON: string"


@pytest.mark.parametrize(("path", "output", "kind"), [
    ("items.0.name", "ü", "string"),
    ("items.0.price", "2.50", "number"),
    ("items.1", '{"name":"b"}', "object"),
    ("ok", "true", "boolean"),
    ("none", "null", "null"),
])
def test_json_get_follows_a_path(json_tool: Load, path: str, output: str, kind: str) -> None:
    result = json_tool().process(JSON_DOC, [("op", "get"), ("path", path)])
    assert result.success, result.error
    assert (result.output, dict(result.attributes)["type"]) == (output, kind)


@pytest.mark.parametrize(("text", "options", "message"), [
    ('{\n  "a": [1,,2]\n}', [], "invalid JSON at line 2, column 11: invalid character ','"),
    ('{"a": 1', [], "invalid JSON at line 1, column 8: unexpected end of input"),
    ('{"a": 1} x', [], "invalid JSON at line 1, column 10: unexpected data after the JSON value"),
    ("   ", [], "empty input: expected a JSON value"),
    ("[]", [("op", "sort")], 'unknown op "sort" (use format, minify, validate, get)'),
    ("[]", [("indent", "9")], 'option indent must be an integer 0..8, got "9"'),
    ("[]", [("colour", "red")], 'unknown option "colour" (use op, indent, path)'),
    ("[]", [("op", "get")], "op=get needs a path option"),
    (JSON_DOC, [("op", "get"), ("path", "items.5")],
     'path items.5: index "5" out of range (array of 2)'),
    (JSON_DOC, [("op", "get"), ("path", "items.0.name.x")], "path items.0.name.x: string has no"),
    (JSON_DOC, [("op", "get"), ("path", "price")], 'path price: no key "price"'),
])
def test_json_bad_input_is_invalid_input_that_says_where(
        json_tool: Load, text: str, options: list[tuple[str, str]], message: str) -> None:
    plugin = json_tool()
    result = plugin.process(text, options)
    assert not result.success
    assert result.error_kind == "invalid-input"
    assert message in (result.error or "")
    assert plugin.process("[1]", [("op", "minify")]).output == "[1]"  # an answer, not a trap


def test_json_bad_indent_config_is_not_configured(json_tool: Load) -> None:
    with pytest.raises(InitializeError, match=r"config indent: must be an integer 0\.\.8"):
        json_tool(config={"indent": "wide"})


def test_json_metadata_health_and_debug_log(json_tool: Load, records: list[Any]) -> None:
    plugin = json_tool()
    assert (plugin.metadata.name, plugin.metadata.version) == ("json-tool", "1.0.0")
    assert plugin.metadata.capabilities == ()
    assert plugin.health().status == "ok"
    plugin.process("[1, 2]", [("op", "minify")])
    assert plugin_logs(records, plugin) == [(LogLevel.DEBUG, "minify: 6 bytes in, 5 bytes out")]
