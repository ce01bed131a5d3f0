"""What leaves the system as a file for staff and print: the answers spreadsheet (out and back in), the Word report, the posters."""
