"""What is served about forecasts: the stored forecast documents (outlook), their shape (published, catchup,
series), the permanent track record (track_record) and the data's age (freshness).
"""
