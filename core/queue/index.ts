export { QueueStore, type QueueStats, type Leased, type QueueOptions, type QueueMessage } from './store';
