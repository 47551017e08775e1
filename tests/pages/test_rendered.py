"""The page as the reader meets it: rendered code blocks, their copy text, and Markdown shown as text."""

from __future__ import annotations

from pages import leaks, rendered_blocks

PAGE = """<h1>T</h1><p>Run <code>checks doctor</code> first.</p>
<div class="language-console highlight"><pre><span></span><code><span class="gp">$ </span>checks doctor
<span class="go">overall: ok</span>
<span class="gp">$ </span>curl -s \\
  "$BACKEND_URL/ready"
<span class="go">{&quot;status&quot;:&quot;ready&quot;}</span>
</code></pre></div>
<div class="language-sh highlight"><pre><span></span><code>export A=1
export B=&quot;x&quot;
</code></pre></div>
<script>var x = "```";</script>
"""


def test_console_blocks_copy_their_commands_and_others_their_text() -> None:
    """Assert the copy text follows copy-console.js: commands only, a continued line kept whole, no
    prompt, no output; a shell block copies its text, HTML entities read back."""
    console, sh = rendered_blocks(PAGE)
    assert console.language == "console" and sh.language == "sh"
    assert console.copy == 'checks doctor\ncurl -s \\\n  "$BACKEND_URL/ready"'
    assert '{"status":"ready"}' in console.text
    assert sh.copy == 'export A=1\nexport B="x"'


def test_a_clean_page_leaks_nothing_and_inline_code_or_scripts_are_not_prose() -> None:
    """Assert fences in a script or inline code are not leaks."""
    assert leaks(PAGE) == []
    assert leaks("<p>write a <code>```console</code> fence</p>") == []


def test_a_fence_or_label_shown_as_code_or_text_is_a_leak() -> None:
    """Assert each way Markdown reaches the reader unread is reported, quoting it."""
    as_code = (
        '<div class="language-text highlight"><pre><code>&lt;span class="safety safety-read-only"&gt;x&lt;/span&gt;\n'
        "```console\n$ checks errors\n```\n</code></pre></div>"
    )
    assert leaks(as_code) == ["shown as code, not read as Markdown: '<span class=\"safety safety-read-only\">x</span>'"]
    as_text = "<p>```console</p><p>&lt;!-- checks: fault --&gt;</p>"
    found = leaks(as_text)
    assert len(found) == 2 and all(f.startswith("shown as text:") for f in found), found
    markdown_on_purpose = '<div class="language-markdown highlight"><pre><code>```console\n$ x\n```</code></pre></div>'
    assert leaks(markdown_on_purpose) == []
