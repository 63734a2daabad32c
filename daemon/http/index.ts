export { HttpServer, type RouteSpec, type Req, type Method, type ServerState, type Envelope, type CallRecord } from './server';
export { Res } from './response';
export type { JsonSchema } from './validate';
export { prepareKeys, checkBearer, type AuthKeys, type Scope } from './auth';
export type { WsRouteSpec, WsAuthenticator } from './ws';
