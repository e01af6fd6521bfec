-- The input rows the last build could not read, by file and line: the README's third query.
select source_file, line_number, reason
from {{ ref('stg_transfers_rejected') }}
order by source_file, line_number
