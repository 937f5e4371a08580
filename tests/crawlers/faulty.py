"""A pipeline stage that fails on every post, for tests of what a failing stage must not lose
(a decoder that crashes, a bug in a stage): loaded by the crawl process through its settings."""

from __future__ import annotations

from typing import Any


class FailingStage:
    def process_item(self, item: Any) -> Any:
        raise RuntimeError("a stage failed on this post")
