"""Tables and figures from run folders, and the PDF report. Needs no torch."""
