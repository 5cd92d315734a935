"""Scoring: a subject, a profile and metrics → one validated results object (`runner`), and the checks
that refuse unusable arguments before any work (`checks`, light: every command's flag checks import
it). It sits above the metrics it runs and below the studies, which write their results through
`runner.new_result`."""
