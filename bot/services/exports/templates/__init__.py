"""The Word templates of the meeting's record, as shipped: bien_ban.docx (the minutes) and
thong_bao_ket_luan.docx (the conclusion notice's draft), made by make_templates.py from the
catalogue's texts. docs/record.md says how a commune adjusts them."""
