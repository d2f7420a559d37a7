"""The gallery: OptAtlas's own measured runs on the bundled model, shipped as a data file so
that a fresh install has evidence to plot before its first job ends."""
