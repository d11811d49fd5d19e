import type { Express } from 'express';
import request from 'supertest';
import { basic } from './users';

/**
 * Requests to an app as one of the test users (test/support/users.ts):
 *   const as = asUser(app);
 *   await as('exporter').pull('/exports/2026-03-14');
 *   await as('approver').post('/expenses', body);
 */
export function asUser(app: Express) {
  return (who: string, password?: string) => {
    const auth = basic(who, password);
    return {
      get: (path: string) => request(app).get(path).set('Authorization', auth),
      head: (path: string) => request(app).head(path).set('Authorization', auth),
      post: (path: string, body?: string | object) => {
        const req = request(app).post(path).set('Authorization', auth);
        return body === undefined ? req : req.send(body);
      },
      put: (path: string, body: object) => request(app).put(path).set('Authorization', auth).send(body),
      /** GET of a day file as it is sent: not gzipped, so its bytes and headers are the file's own. */
      pull: (path: string) => request(app).get(path).set('Authorization', auth).set('Accept-Encoding', 'identity'),
    };
  };
}
