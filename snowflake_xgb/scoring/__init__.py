"""The scoring job (``job=score``): a trained model over a Snowflake table, written back to
Snowflake through a stage and ``COPY INTO``, published whole at the end."""
