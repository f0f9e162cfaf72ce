"""Generated reports. PK report_id (``daily#2026-11-25``), computed from stored data by jobs."""

from pynamodb.attributes import JSONAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta


class ReportModel(KefuModel):
    """One computed report and when it was made."""

    Meta = table_meta("reports")

    report_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    period = UnicodeAttribute()
    generated_at = UnicodeAttribute()
    body = JSONAttribute()
