"""snowflake_xgb: distributed XGBoost training on Amazon SageMaker, straight from Snowflake.

The training job (``snowflake_xgb.training:main``) flows one way:

    config -> credentials -> query -> this host's slice -> matrix -> training -> outputs

and each step lives in its own module:

=====================  =====================================================
``job_environment``    the SageMaker contract: folders, hosts, input files
``config``             hyperparameters -> a validated :class:`JobConfig`
``credentials``        Secrets Manager -> Snowflake credentials in the env
``snowflake_session``  connecting, describing and running queries
``queries``            the SQL the job runs (columns, validation split)
``sharding``           which rows of a result belong to which host
``loading``            Arrow batches -> XGBoost quantized matrix
``host_group``         the hosts: tracker, collective, liveness, timeouts
``training``           ``xgb.train`` and the entry point
``checkpoints``        saving and resuming boosters
``interruption``       SIGTERM: stop after the round, checkpoint, exit in time
``outputs``            model, metadata, shard reports
``api``                the public API for user scripts (script mode)
``script_mode``        running the user's entry point after the bootstrap
=====================  =====================================================
"""

__version__ = "0.1.0"
