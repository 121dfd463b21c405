from tousu_common.migrations import run_env
from tousu_console.adapters.orm import Base

run_env(Base.metadata)
