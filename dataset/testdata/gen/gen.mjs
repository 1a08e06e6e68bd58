// Writes Parquet files with DuckDB for the dataset package's tests and benchmarks.
//
// Shards written by tools other than parquet-go must read, so the fixtures are
// made by DuckDB (npm @duckdb/node-api ships its own binary; nothing else to install).
//
//   node gen.mjs fixtures DIR          small committed test fixtures into DIR
//   node gen.mjs bench FILE [ROWS] [DIM]  a large list<float32> zstd shard (not committed)
//   node gen.mjs read FILE             print DuckDB's column types and rows of FILE as JSON
//
// Every fixture value follows a formula that the Go tests recompute:
// row i (0-based) has id 'doc-<i>' (or the integer 1000+i), embedding element j
// is i + j/4 (exact in float32 and float64), label is i % 3 ('L<i%3>' as string).
import { DuckDBInstance } from '@duckdb/node-api';
import path from 'node:path';
import fs from 'node:fs';

const ROWS = 6;
const DIM = 4;
const MULTI_ROWS = 5000;

// emb returns a SQL list expression for row i's embedding of the given element type.
function emb(type, dim = DIM) {
  return `list_transform(range(${dim}), j -> (i + j / 4)::${type})`;
}

// Each entry is one fixture: its file name and the SELECT that makes it.
// Ids, dimension and row count come from the formulas above.
function fixtures() {
  const from = `FROM range(${ROWS}) t(i)`;
  return {
    // Good shards.
    'float_varchar.parquet': `SELECT 'doc-' || i AS id, ${emb('FLOAT')} AS embedding, 'L' || (i % 3) AS label ${from}`,
    'float_bigint.parquet': `SELECT 1000 + i AS id, ${emb('FLOAT')} AS embedding, (i % 3)::BIGINT AS label ${from}`,
    'fixed_float.parquet': `SELECT 'doc-' || i AS id, ${emb('FLOAT')}::FLOAT[${DIM}] AS embedding ${from}`,
    'double_bigint.parquet': `SELECT 1000 + i AS id, ${emb('DOUBLE')} AS embedding ${from}`,
    // Queries with positives: row i's positives are doc-(i+1) and doc-(i+2); the last row has none (empty list).
    'queries_positives.parquet': `SELECT 'q-' || i AS id, ${emb('FLOAT')} AS embedding,
        CASE WHEN i = ${ROWS - 1} THEN []::VARCHAR[] ELSE ['doc-' || (i + 1), 'doc-' || (i + 2)] END AS positive_ids ${from}`,
    'queries_positives_bigint.parquet': `SELECT 'q-' || i AS id, ${emb('FLOAT')} AS embedding,
        CASE WHEN i = ${ROWS - 1} THEN []::BIGINT[] ELSE [1000 + i + 1, 1000 + i + 2] END AS positive_ids ${from}`,
    // Texts (text_column): row i's text is 'text of doc-<i> ✓', over several row
    // groups and pages (5,000 rows, 2,048 per row group), for reading scattered rows.
    'texts.parquet': {
      select: `SELECT 'doc-' || i AS id, ${emb('FLOAT')} AS embedding, 'text of doc-' || i || ' ✓' AS text
        FROM range(${MULTI_ROWS}) t(i)`,
      options: 'ROW_GROUP_SIZE 2048',
    },
    // Queries against texts.parquet: row i is 'q-<i>' with text 'question <i>', positives
    // doc-(97i mod 5000) and doc-(31i+7 mod 5000), embedding that of doc-(50i), reversed.
    'texts_queries.parquet': `SELECT 'q-' || i AS id, list_reverse(list_transform(range(${DIM}), j -> (50 * i + j / 4)::FLOAT)) AS embedding,
        ['doc-' || (97 * i % 5000), 'doc-' || ((31 * i + 7) % 5000)] AS positive_ids, 'question ' || i AS text
        FROM range(40) t(i)`,
    'bad_text_type.parquet': `SELECT 'doc-' || i AS id, ${emb('FLOAT')} AS embedding, i AS text ${from}`,
    'bad_null_text.parquet': `SELECT 'doc-' || i AS id, ${emb('FLOAT')} AS embedding,
        CASE WHEN i = 4 THEN NULL ELSE 'text of doc-' || i END AS text ${from}`,
    // Custom column names.
    'custom_names.parquet': `SELECT 'doc-' || i AS doc_key, ${emb('FLOAT')} AS vec ${from}`,
    // Several row groups (DuckDB's smallest, 2,048 rows), for reading row ranges:
    // 5,000 rows; row i has i % 3 positives, doc-(i+1) onwards.
    'multi_rowgroup.parquet': {
      select: `SELECT 'doc-' || i AS id, ${emb('FLOAT')} AS embedding, 'L' || (i % 3) AS label,
        list_transform(range(i % 3), k -> 'doc-' || (i + k + 1)) AS positive_ids FROM range(${MULTI_ROWS}) t(i)`,
      options: 'ROW_GROUP_SIZE 2048',
    },

    // Bad shards, one defect each.
    'bad_null_embedding.parquet': `SELECT 'doc-' || i AS id, CASE WHEN i = 3 THEN NULL ELSE ${emb('FLOAT')} END AS embedding ${from}`,
    'bad_null_element.parquet': `SELECT 'doc-' || i AS id, CASE WHEN i = 3 THEN [1, NULL, 2, 3]::FLOAT[] ELSE ${emb('FLOAT')} END AS embedding ${from}`,
    'bad_nan.parquet': `SELECT 'doc-' || i AS id, CASE WHEN i = 4 THEN [1, 'nan'::FLOAT, 2, 3]::FLOAT[] ELSE ${emb('FLOAT')} END AS embedding ${from}`,
    'bad_inf.parquet': `SELECT 'doc-' || i AS id, CASE WHEN i = 2 THEN [1, 2, 'inf'::FLOAT, 3]::FLOAT[] ELSE ${emb('FLOAT')} END AS embedding ${from}`,
    'bad_dimension.parquet': `SELECT 'doc-' || i AS id, CASE WHEN i = 5 THEN [1, 2, 3]::FLOAT[] ELSE ${emb('FLOAT')} END AS embedding ${from}`,
    'bad_empty_list.parquet': `SELECT 'doc-' || i AS id, ${emb('FLOAT')} AS embedding ${from}
        UNION ALL SELECT 'doc-9', []::FLOAT[]`,
    'bad_duplicate_ids.parquet': `SELECT 'doc-' || (i % 5) AS id, ${emb('FLOAT')} AS embedding ${from}`,
    'bad_null_id.parquet': `SELECT CASE WHEN i = 1 THEN NULL ELSE 'doc-' || i END AS id, ${emb('FLOAT')} AS embedding ${from}`,
    'bad_empty.parquet': `SELECT 'doc-' || i AS id, ${emb('FLOAT')} AS embedding ${from} WHERE i < 0`,
    'bad_embedding_type.parquet': `SELECT 'doc-' || i AS id, ${emb('INTEGER')} AS embedding ${from}`,
    'bad_embedding_scalar.parquet': `SELECT 'doc-' || i AS id, i::FLOAT AS embedding ${from}`,
    'bad_id_type.parquet': `SELECT i::DOUBLE AS id, ${emb('FLOAT')} AS embedding ${from}`,
    'bad_no_embedding.parquet': `SELECT 'doc-' || i AS id ${from}`,
    'bad_positives_type.parquet': `SELECT 'q-' || i AS id, ${emb('FLOAT')} AS embedding, 'doc-' || i AS positive_ids ${from}`,
  };
}

async function writeFixtures(conn, dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, fixture] of Object.entries(fixtures())) {
    const file = path.join(dir, name);
    const { select, options } = typeof fixture === 'string' ? { select: fixture } : fixture;
    // One thread keeps the row order and the bytes the same from run to run.
    await conn.run(`COPY (${select}) TO '${file}' (FORMAT parquet, COMPRESSION zstd${options ? ', ' + options : ''})`);
    console.log(`${file} ${fs.statSync(file).size} bytes`);
  }
}

async function writeBench(conn, file, rows, dim) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = file + '.tmp';
  await conn.run(`SELECT setseed(0.42)`);
  await conn.run(`COPY (
      SELECT 'doc-' || i AS id,
             list_transform(range(${dim}), j -> (random() * 2 - 1)::FLOAT) AS embedding
      FROM range(${rows}) t(i)
    ) TO '${tmp}' (FORMAT parquet, COMPRESSION zstd)`);
  fs.renameSync(tmp, file); // only a whole file ever appears under the final name
  console.log(`${file} ${fs.statSync(file).size} bytes`);
}

async function main() {
  const [mode, target, rows, dim] = process.argv.slice(2);
  if (!mode || !target) {
    console.error('usage: node gen.mjs fixtures DIR | bench FILE [ROWS] [DIM] | read FILE');
    process.exit(2);
  }
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  if (mode === 'fixtures') {
    await writeFixtures(conn, path.resolve(target));
  } else if (mode === 'read') {
    const file = path.resolve(target).replaceAll("'", "''");
    const types = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`);
    const rows = await conn.runAndReadAll(`SELECT * FROM read_parquet('${file}')`);
    console.log(JSON.stringify({
      types: Object.fromEntries(types.getRows().map((r) => [r[0], r[1]])),
      rows: rows.getRowsJson(),
    }));
  } else if (mode === 'bench') {
    await writeBench(conn, path.resolve(target), Number(rows ?? 100000), Number(dim ?? 768));
  } else {
    console.error(`unknown mode ${mode}`);
    process.exit(2);
  }
  conn.closeSync?.();
}

await main();
