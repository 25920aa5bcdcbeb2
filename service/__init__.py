"""service layer of transduce (see DESIGN.md)."""
