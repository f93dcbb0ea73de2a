"""The parse-and-chunk half of the file_search ingest pipeline.

`extract.extract_text` turns an uploaded file into plain text (or raises `IngestError` with
the vector store file's `last_error` code); `chunking.chunk` / `chunking.iter_chunks` cut that
text into overlapping windows of o200k_base tokens. Nothing heavy is imported until it is
used.
"""
