import { SwitchboardError, isRetryable } from '@switchboard/runtime';
import { describe, expect, it } from 'vitest';
import {
  SqlCausalTimeoutError,
  SqlErrorFamily,
  SqlNoReplicaError,
  SqlPrimaryUnavailableError,
  isConnectionError,
  sqlErrorFamily,
} from '../src/index.js';

function driverError(fields: { code?: string; errno?: number; fatal?: boolean }): Error {
  return Object.assign(new Error('driver error'), fields);
}

describe('mysql2 error families', () => {
  it.each([
    [{ code: 'ECONNREFUSED', errno: -111 }, SqlErrorFamily.Connection],
    [{ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }, SqlErrorFamily.Connection],
    [{ code: 'ER_SERVER_SHUTDOWN', errno: 1053 }, SqlErrorFamily.Connection],
    [{ code: 'ER_CON_COUNT_ERROR', errno: 1040 }, SqlErrorFamily.Connection],
    [{ code: 'ER_CONNECTION_KILLED', errno: 1927 }, SqlErrorFamily.Connection],
    [{ fatal: true }, SqlErrorFamily.Connection],
    [{ code: 'ER_LOCK_DEADLOCK', errno: 1213 }, SqlErrorFamily.Lock],
    [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, SqlErrorFamily.Lock],
    [{ code: 'ER_DUP_ENTRY', errno: 1062 }, SqlErrorFamily.Constraint],
    [{ code: 'ER_NO_REFERENCED_ROW_2', errno: 1452 }, SqlErrorFamily.Constraint],
    [{ code: 'ER_BAD_NULL_ERROR', errno: 1048 }, SqlErrorFamily.Constraint],
    [{ code: 'ER_CONSTRAINT_FAILED', errno: 4025 }, SqlErrorFamily.Constraint],
    [{ code: 'ER_PARSE_ERROR', errno: 1064 }, SqlErrorFamily.Syntax],
    [{ code: 'ER_NO_SUCH_TABLE', errno: 1146 }, SqlErrorFamily.Syntax],
    [{ code: 'ER_BAD_FIELD_ERROR', errno: 1054 }, SqlErrorFamily.Syntax],
    [{ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 }, SqlErrorFamily.Other],
    [{ code: 'ER_OPTION_PREVENTS_STATEMENT', errno: 1290 }, SqlErrorFamily.Other],
    [{}, SqlErrorFamily.Other],
  ])('sorts %j into %s', (fields, family) => {
    expect(sqlErrorFamily(driverError(fields))).toBe(family);
  });

  it('puts a deadlock in the lock family even when mysql2 marks it fatal', () => {
    expect(sqlErrorFamily(driverError({ errno: 1213, fatal: true }))).toBe(SqlErrorFamily.Lock);
  });

  it('treats non-errors as other', () => {
    expect(sqlErrorFamily(undefined)).toBe(SqlErrorFamily.Other);
    expect(sqlErrorFamily('boom')).toBe(SqlErrorFamily.Other);
    expect(isConnectionError(null)).toBe(false);
  });
});

describe('the SQL router errors', () => {
  it('says the primary being down is retryable, with its code and cause', () => {
    const cause = driverError({ code: 'ECONNREFUSED' });
    const error = new SqlPrimaryUnavailableError('down', { cause });
    expect(error).toBeInstanceOf(SwitchboardError);
    expect(error.code).toBe('SWB_SQL_PRIMARY_UNAVAILABLE');
    expect(error.cause).toBe(cause);
    expect(isRetryable(error)).toBe(true);
    expect(error.statusCode).toBe(503);
  });

  it('gives every router error a stable code', () => {
    expect(new SqlNoReplicaError('x').code).toBe('SWB_SQL_NO_REPLICA');
    const timeout = new SqlCausalTimeoutError('x', '0-0-5');
    expect(timeout.code).toBe('SWB_SQL_CAUSAL_TIMEOUT');
    expect(timeout.position).toBe('0-0-5');
  });
});
