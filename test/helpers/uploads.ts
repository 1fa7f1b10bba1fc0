import { expect } from 'vitest';
import request from 'supertest';
import type { TestApp } from './app.ts';

const FINAL = ['completed', 'completed_with_errors', 'failed', 'cancelled'];

export interface UploadJson {
  id: number;
  status: string;
  format: string | null;
  rows: { processed: number; succeeded: number; failed: number };
  errorMessage: string | null;
  errorCount: number;
  [key: string]: unknown;
}

/** Sends a file to the upload API as multipart/form-data. */
export function postUpload(t: TestApp, token: string, projectId: number, content: string | Buffer, fileName: string, fields: Record<string, string> = {}) {
  let req = request(t.app.server).post(`/api/v1/projects/${projectId}/uploads`).set('Authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(fields)) req = req.field(k, v);
  return req.attach('file', Buffer.isBuffer(content) ? content : Buffer.from(content), fileName);
}

/** Polls the upload until the job has finished with it (never a fixed sleep). */
export async function waitForUpload(t: TestApp, token: string, projectId: number, uploadId: number, timeoutMs = 60_000): Promise<UploadJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(t.app.server).get(`/api/v1/projects/${projectId}/uploads/${uploadId}`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    if (FINAL.includes(res.body.status)) return res.body as UploadJson;
    if (Date.now() > deadline) throw new Error(`upload ${uploadId} still ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Uploads a file and waits for its final status. */
export async function uploadAndWait(t: TestApp, token: string, projectId: number, content: string | Buffer, fileName: string, fields: Record<string, string> = {}): Promise<UploadJson> {
  const res = await postUpload(t, token, projectId, content, fileName, fields);
  if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${res.text}`);
  return waitForUpload(t, token, projectId, res.body.id);
}

export async function uploadErrors(t: TestApp, token: string, projectId: number, uploadId: number) {
  const res = await request(t.app.server).get(`/api/v1/projects/${projectId}/uploads/${uploadId}/errors`).set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(200);
  return res.body.items as Array<{ row: number; field: string | null; message: string; raw: string | null }>;
}
