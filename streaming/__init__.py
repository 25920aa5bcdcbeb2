"""streaming layer of transduce (see DESIGN.md)."""
