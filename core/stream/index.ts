export { StreamStore, isStreamError, type StreamInfo, type StreamRecord, type Retention, type StreamError } from './store';
