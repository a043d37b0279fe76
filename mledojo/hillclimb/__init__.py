"""The hill-climbing actor/critic agent (mle-beast style); see docs/agents/hill-climb.md."""
