"""Ingestion: loaders (txt/md/html/pdf/docx) → cleaning → chunking → pipeline (incremental)."""
