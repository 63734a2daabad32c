// The admin role (the control plane): `startAdmin` builds it from the settings (app.ts).
export { type AdminService, AdminConfigError, startAdmin } from './app';
